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
