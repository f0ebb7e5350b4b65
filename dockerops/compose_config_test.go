package dockerops

import "testing"

func TestParseComposeConfig(t *testing.T) {
	// What `docker-compose config` (v1) and `docker compose config` (v2) print for the
	// same file: v2 adds networks, long port and volume forms, and the dockerfile.
	tests := []struct {
		name string
		yaml string
	}{
		{"v1", `services:
  cache:
    image: scar-demo/web:latest
  web:
    build:
      context: /srv/demo
    image: scar-demo/web:latest
    volumes:
    - /srv/demo/content:/srv/content:ro
version: '3.9'
`},
		{"v2", `name: x
services:
  cache:
    image: scar-demo/web:latest
    networks:
      default: null
  web:
    build:
      context: /srv/demo
      dockerfile: Dockerfile
    image: scar-demo/web:latest
    volumes:
      - type: bind
        source: /srv/demo/content
        target: /srv/content
networks:
  default:
    name: x_default
`},
		{"short build", `services:
  web:
    build: ./app
  cache:
    image: redis
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseComposeConfig([]byte(tc.yaml), "/srv/demo")
			if err != nil {
				t.Fatal(err)
			}
			if built := builtServices(got); len(built) != 1 || built[0] != "web" {
				t.Fatalf("built services %v, want [web]", built)
			}
			web := got["web"]
			if web.Dockerfile != "Dockerfile" || (web.BuildContext != "/srv/demo" && web.BuildContext != "/srv/demo/app") {
				t.Errorf("web = %+v", web)
			}
			if got["cache"].BuildContext != "" {
				t.Errorf("cache has a build context: %+v", got["cache"])
			}
		})
	}
	if _, err := parseComposeConfig([]byte("services: [unclosed"), "/x"); err == nil {
		t.Error("broken YAML parsed")
	}
}

func TestParseConfigHashes(t *testing.T) {
	// `config --hash '*'` of v1 and v2 print "<service> <sha256>" per line; v1 may mix
	// warnings in (Run combines stdout and stderr).
	out := "WARNING: The FOO variable is not set. Defaulting to a blank string.\n" +
		"db 2afd7866203dca40993313263173003833e9de9c3ad83f2f59484e32a5605234\n" +
		"web 55f64b59612335d0a8271429b8d13bda1b5c9dd7424003c61f1eccd84cbaffcf\n"
	got := parseConfigHashes(out)
	if len(got) != 2 || got["db"] != "2afd7866203dca40993313263173003833e9de9c3ad83f2f59484e32a5605234" || got["web"] == "" {
		t.Errorf("parseConfigHashes = %v", got)
	}
}
