package dockerops

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// engineInspect is an inspect as Engine 20.10 answered it, of a healthy container of
// the demo image.
func engineInspect(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/inspect-engine-20.10.json")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// referenceLean is what encoding/json decodes into leanInspect.
func referenceLean(data []byte) (leanInspect, error) {
	var li leanInspect
	err := json.Unmarshal(data, &li)
	return li, err
}

// TestDecodeLeanMatchesEncodingJSON: wherever decodeLean answers, it answers what
// encoding/json decodes; it refuses (and the client is asked) only what it cannot
// read as encoding/json would.
func TestDecodeLeanMatchesEncodingJSON(t *testing.T) {
	engine := engineInspect(t)
	var indented bytes.Buffer
	if err := json.Indent(&indented, engine, "", "\t"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		// refused: decodeLean leaves it to the client.
		refused bool
	}{
		{name: "engine answer", doc: string(engine)},
		{name: "indented", doc: indented.String()},
		{name: "empty object", doc: `{}`},
		{name: "keys in another case", doc: `{"id": "x", "IMAGE": "sha256:1", "restartcount": 4, "state": {"status": "exited", "exitcode": 3}, "hostconfig": {"restartpolicy": {"name": "always"}, "memory": 5}}`},
		{name: "a key in another case is the same field: the later wins", doc: `{"Image": "exact", "image": "folded"}`},
		{name: "later duplicate wins", doc: `{"Image": "first", "Image": "second", "RestartCount": 1, "RestartCount": 2}`},
		{name: "null state and host config", doc: `{"State": null, "HostConfig": null}`},
		{name: "nested fields of the same names are not the top level's", doc: `{"Config": {"Image": "nested", "State": {"Running": true}}, "Image": "top", "NetworkSettings": {"Memory": 9}, "HostConfig": {"LogConfig": {"Memory": 7}, "Memory": 8}}`},
		{name: "strings with escapes and brackets", doc: `{"Path": "a\"}{][\\", "Args": ["\"", "\\\\", "}"], "Image": "i\u00e9\n", "State": {"Status": "running", "Error": "x\"y"}}`},
		{name: "health log with output", doc: `{"State": {"Running": true, "Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": [{"Start": "2026-11-28T21:42:55.158925389Z", "End": "2026-11-28T21:42:55.211514862Z", "ExitCode": 1, "Output": "HTTP 500\n{\"ok\":false}"}]}}}`},
		{name: "numbers and literals stepped over", doc: `{"A": -1.5e+3, "B": [true, false, null, 0, {}], "C": {}, "D": [], "RestartCount": 7}`},
		{name: "escaped key", doc: `{"St\u0061te": {"Running": true}}`, refused: true},
		{name: "not an object", doc: `[1]`, refused: true},
		{name: "truncated", doc: string(engine[:len(engine)/2]), refused: true},
		{name: "trailing data", doc: `{"Image": "x"} {}`, refused: true},
		{name: "missing colon", doc: `{"Image" "x"}`, refused: true},
		{name: "wrong type", doc: `{"RestartCount": "three"}`, refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got leanInspect
			err := decodeLean([]byte(tc.doc), &got)
			if tc.refused {
				if err == nil {
					t.Errorf("decodeLean answered %+v, want it refused", got)
				}
				return
			}
			want, werr := referenceLean([]byte(tc.doc))
			if werr != nil {
				t.Fatalf("encoding/json: %v", werr)
			}
			if err != nil {
				t.Fatalf("decodeLean: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeLean\n%s\nencoding/json\n%s", dump(got), dump(want))
			}
		})
	}
	var li leanInspect
	if err := decodeLean(engine, &li); err != nil || li.State == nil || !li.State.Running || li.State.Health == nil || len(li.State.Health.Log) != 5 ||
		li.HostConfig == nil || !strings.HasPrefix(li.Image, "sha256:") {
		t.Errorf("engine answer decoded as %s, %v", dump(li), err)
	}
}

// FuzzDecodeLean: whenever both decode, they agree; decodeLean never panics.
func FuzzDecodeLean(f *testing.F) {
	f.Add(engineInspect(f))
	f.Add([]byte(`{"State": {"Running": true, "Health": {"Status": "healthy"}}, "HostConfig": {"RestartPolicy": {"Name": "no"}, "Memory": 1}}`))
	f.Add([]byte(`{"image": "a", "Image": "b", "IMAGE": "c"}`))
	f.Add([]byte(`{"Path": "a\"}{][\\", "Args": ["\"", "}"], "Id": "x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got leanInspect
		err := decodeLean(data, &got)
		want, werr := referenceLean(data)
		if err == nil && werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("decodeLean\n%s\nencoding/json\n%s", dump(got), dump(want))
		}
	})
}

func dump(li leanInspect) string {
	b, _ := json.Marshal(li)
	return string(b)
}

// BenchmarkDecodeLean is the decode of one engine answer, lean and as the client
// library decodes it.
func BenchmarkDecodeLean(b *testing.B) {
	data := engineInspect(b)
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var li leanInspect
			if err := decodeLean(data, &li); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-lean-struct", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := referenceLean(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
