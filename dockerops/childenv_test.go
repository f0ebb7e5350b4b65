package dockerops

import (
	"context"
	"strings"
	"testing"
)

// TestDeployGivesComposeNoScarSecrets: Compose interpolates ${VAR} in a Compose file
// from its own environment. A Compose file that asks for scar's secrets must deploy
// them empty: the Compose child gets an explicit environment without SCAR_* (issue 13,
// defect 1). scar's secrets are in the process environment, as in production.
func TestDeployGivesComposeNoScarSecrets(t *testing.T) {
	secrets := map[string]string{
		"SCAR_API_TOKENS":              "full-token-0123456789abcdef",
		"SCAR_TELEGRAM_TOKEN":          "123456:bot-token-abcdef",
		"SCAR_TELEGRAM_WEBHOOK_SECRET": "webhook-secret-abcdef",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	e := newDeployEnv(t, nil)
	e.editCompose("      VERSION: v1\n", "      VERSION: v1\n"+
		"      LEAK: \"${SCAR_API_TOKENS}\"\n"+
		"      BOT: \"${SCAR_TELEGRAM_TOKEN}\"\n"+
		"      SECRET: \"${SCAR_TELEGRAM_WEBHOOK_SECRET}\"\n")
	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	env := e.container("web").Env
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for _, name := range []string{"LEAK", "BOT", "SECRET"} {
		v, ok := got[name]
		if !ok {
			t.Errorf("the deployed container has no %s: the Compose file was not applied (env %q)", name, env)
			continue
		}
		if v != "" {
			t.Errorf("the deployed container has %s=%q: scar's environment reached Compose", name, v)
		}
	}
	for _, kv := range env {
		for _, secret := range secrets {
			if strings.Contains(kv, secret) {
				t.Errorf("a secret of scar is in the container's environment: %s", kv)
			}
		}
	}

	// Production's Compose file now names variables Compose does not have: it warns
	// about each on stderr, which must not be read as part of its config.
	e.edit("content/index.txt", "content v2\n")
	if _, err := e.svc.PlanDeploy(context.Background(), e.p.Name); err != nil {
		t.Errorf("planning the next deploy: %v", err)
	}
}
