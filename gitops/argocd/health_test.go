// Tests of health.lua, run the way Argo CD runs a health check from argocd-cm: gopher-lua with
// only the package, base and table libraries open (argocd-cm scripts get the standard libraries
// only with useOpenLibs), the live object as the global `obj`, a one-second deadline, and the
// returned table converted through JSON into {status, message}.
//
// Also checks that argocd-cm.yaml embeds health.lua byte for byte under a key Argo CD matches for
// every catalog kind, and that every kind in crds/ has healthy, progressing and degraded cases.
package argocd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/glob"
	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

const (
	catalogGroup  = "catalog.nexus.dev"
	scriptPath    = "health.lua"
	testsPath     = "health_test.yaml"
	configMapPath = "argocd-cm.yaml"
	crdDir        = "../../crds"
	// The argocd-cm key holding resource customizations as YAML, and the wildcard entry in it.
	customizationsKey = "resource.customizations"
	wildcardKey       = catalogGroup + "/*"
)

// Health statuses Argo CD accepts from a Lua health check.
var validStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type healthTest struct {
	HealthStatus healthStatus `json:"healthStatus"`
	InputPath    string       `json:"inputPath"`
}

type healthTests struct {
	Tests []healthTest `json:"tests"`
}

// catalogKind is one CRD of the catalog group.
type catalogKind struct {
	Kind    string
	Version string // the storage version
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

func loadTests(t *testing.T) []healthTest {
	t.Helper()
	var tests healthTests
	if err := yaml.UnmarshalStrict(readFile(t, testsPath), &tests); err != nil {
		t.Fatalf("parse %s: %v", testsPath, err)
	}
	if len(tests.Tests) == 0 {
		t.Fatalf("%s has no tests", testsPath)
	}
	return tests.Tests
}

// decodeObject parses a YAML object the way it reaches Argo CD from the API server: JSON
// numbers become int64 when integral (as in unstructured.Unstructured), float64 otherwise.
func decodeObject(t *testing.T, data []byte) map[string]any {
	t.Helper()
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("yaml to json: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(j)))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return normalizeNumbers(obj).(map[string]any)
}

func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, item := range v {
			v[k] = normalizeNumbers(item)
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = normalizeNumbers(item)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	default:
		return v
	}
}

// toLua converts a decoded Kubernetes object into Lua values, as Argo CD's decodeValue does:
// maps become tables keyed by string, lists become 1-based arrays, numbers LNumber, and
// anything else (null) nil.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	default:
		return lua.LNil
	}
}

// runHealth executes a health script against obj. openLibs mirrors argocd-cm's useOpenLibs.
func runHealth(script string, obj map[string]any, openLibs bool) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		// Argo CD also opens a reduced `os` library (time and date only); health.lua needs none.
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret := l.Get(-1)
	if ret.Type() != lua.LTTable {
		return healthStatus{}, fmt.Errorf("expected a table from the script, got %s", ret.Type())
	}
	encoded, err := luajson.Encode(ret)
	if err != nil {
		return healthStatus{}, err
	}
	var hs healthStatus
	if err := json.Unmarshal(encoded, &hs); err != nil {
		return healthStatus{}, fmt.Errorf("decode %s: %w", encoded, err)
	}
	if !validStatuses[hs.Status] {
		return healthStatus{}, fmt.Errorf("invalid health status %q (Argo CD would report Unknown)", hs.Status)
	}
	return hs, nil
}

func TestHealthLua(t *testing.T) {
	script := string(readFile(t, scriptPath))
	for _, tc := range loadTests(t) {
		obj := decodeObject(t, readFile(t, tc.InputPath))
		for _, openLibs := range []bool{false, true} {
			name := tc.InputPath
			if openLibs {
				name += "/useOpenLibs"
			}
			t.Run(name, func(t *testing.T) {
				got, err := runHealth(script, obj, openLibs)
				if err != nil {
					t.Fatalf("health.lua failed: %v", err)
				}
				if got != tc.HealthStatus {
					t.Errorf("got %+v, want %+v", got, tc.HealthStatus)
				}
			})
		}
	}
}

// A script error makes Argo CD report the resource's health as Unknown with the Lua error, so
// health.lua must cope with anything the API server may hand it.
func TestHealthLuaOddObjects(t *testing.T) {
	script := string(readFile(t, scriptPath))
	for name, doc := range map[string]string{
		"no metadata":      "apiVersion: catalog.nexus.dev/v1alpha1\nkind: Component\n",
		"empty status":     "kind: Component\nmetadata: {name: a, generation: 2}\nstatus: {}\n",
		"empty conditions": "kind: Component\nmetadata: {name: a, generation: 2}\nstatus: {observedGeneration: 2, conditions: []}\n",
		"condition without status": "kind: Component\nmetadata: {name: a, generation: 2}\n" +
			"status: {observedGeneration: 2, conditions: [{type: Ready}]}\n",
		"ready without message or reason": "kind: Component\nmetadata: {name: a, generation: 2}\n" +
			"status: {observedGeneration: 2, conditions: [{type: Ready, status: 'False'}]}\n",
		"null message": "kind: Component\nmetadata: {name: a, generation: 2}\n" +
			"status: {observedGeneration: 2, conditions: [{type: Ready, status: 'True', reason: Resolved, message: null}]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			hs, err := runHealth(script, decodeObject(t, []byte(doc)), false)
			if err != nil {
				t.Fatalf("health.lua failed: %v", err)
			}
			if hs.Message == "" {
				t.Errorf("empty message for %+v", hs)
			}
		})
	}
}

// catalogKinds reads the kinds of the catalog group from the generated CRDs.
func catalogKinds(t *testing.T) []catalogKind {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (%v)", crdDir, err)
	}
	var kinds []catalogKind
	for _, f := range files {
		var crd struct {
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name    string `json:"name"`
					Storage bool   `json:"storage"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(readFile(t, f), &crd); err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		if crd.Spec.Group != catalogGroup {
			continue
		}
		k := catalogKind{Kind: crd.Spec.Names.Kind}
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				k.Version = v.Name
			}
		}
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].Kind < kinds[j].Kind })
	return kinds
}

func TestEveryKindHasTestCases(t *testing.T) {
	kinds := catalogKinds(t)
	if len(kinds) < 14 {
		t.Fatalf("expected at least the 14 catalog kinds in %s, found %d", crdDir, len(kinds))
	}
	statuses := map[string]map[string]int{}
	referenced := map[string]bool{}
	for _, tc := range loadTests(t) {
		if referenced[tc.InputPath] {
			t.Errorf("%s is listed twice in %s", tc.InputPath, testsPath)
		}
		referenced[tc.InputPath] = true
		parts := strings.Split(filepath.ToSlash(tc.InputPath), "/")
		if len(parts) != 3 || parts[0] != "testdata" {
			t.Errorf("inputPath %s is not testdata/<Kind>/<case>.yaml", tc.InputPath)
			continue
		}
		obj := decodeObject(t, readFile(t, tc.InputPath))
		if obj["kind"] != parts[1] || !strings.HasPrefix(fmt.Sprint(obj["apiVersion"]), catalogGroup+"/") {
			t.Errorf("%s holds %v %v, not a %s/%s", tc.InputPath, obj["apiVersion"], obj["kind"], catalogGroup, parts[1])
		}
		if statuses[parts[1]] == nil {
			statuses[parts[1]] = map[string]int{}
		}
		statuses[parts[1]][tc.HealthStatus.Status]++
	}
	for _, k := range kinds {
		for _, want := range []string{"Healthy", "Progressing", "Degraded"} {
			if statuses[k.Kind][want] == 0 {
				t.Errorf("kind %s has no %s test case in %s", k.Kind, want, testsPath)
			}
		}
	}
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, f := range files {
		if !referenced[filepath.ToSlash(f)] {
			t.Errorf("%s is not referenced from %s", f, testsPath)
		}
	}
}

// validConfigMapKey is the API server's rule for ConfigMap data keys (so a key such as
// resource.customizations.health.catalog.nexus.dev_* is rejected: `*` is not allowed).
var validConfigMapKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// resourceOverride is the part of Argo CD's ResourceOverride that resource.customizations holds.
type resourceOverride struct {
	HealthLua   string `json:"health.lua,omitempty"`
	UseOpenLibs bool   `json:"health.lua.useOpenLibs,omitempty"`
}

func loadConfigMap(t *testing.T) map[string]string {
	t.Helper()
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(readFile(t, configMapPath), &cm); err != nil {
		t.Fatalf("parse %s: %v", configMapPath, err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Fatalf("%s is not the argocd-cm ConfigMap", configMapPath)
	}
	return cm.Data
}

func TestConfigMapEmbedsHealthLua(t *testing.T) {
	data := loadConfigMap(t)
	for key := range data {
		if !validConfigMapKey.MatchString(key) {
			t.Errorf("argocd-cm data key %q is not a valid ConfigMap key (the API server rejects it)", key)
		}
	}
	raw, ok := data[customizationsKey]
	if !ok {
		t.Fatalf("argocd-cm has no %s", customizationsKey)
	}
	var overrides map[string]resourceOverride
	if err := yaml.UnmarshalStrict([]byte(raw), &overrides); err != nil {
		t.Fatalf("parse %s: %v", customizationsKey, err)
	}
	override, ok := overrides[wildcardKey]
	if !ok {
		t.Fatalf("%s has no %q entry", customizationsKey, wildcardKey)
	}
	if want := string(readFile(t, scriptPath)); override.HealthLua != want {
		t.Errorf("the health.lua embedded in %s differs from %s: copy it again (indented under %q)",
			configMapPath, scriptPath, wildcardKey)
	}
	if override.UseOpenLibs {
		t.Errorf("health.lua needs no standard libraries: do not set useOpenLibs")
	}

	// Argo CD looks up the exact "group/Kind" first, then matches the keys as globs
	// (github.com/gobwas/glob). Nothing else may match a catalog kind.
	for _, k := range catalogKinds(t) {
		gk := catalogGroup + "/" + k.Kind
		if _, exact := overrides[gk]; exact {
			t.Errorf("%s has an entry for %s that shadows the wildcard", customizationsKey, gk)
		}
		for key := range data {
			if strings.HasPrefix(key, "resource.customizations.health."+catalogGroup+"_") {
				t.Errorf("argocd-cm key %s shadows the wildcard health check", key)
			}
		}
		var matched []string
		for key := range overrides {
			g, err := glob.Compile(key)
			if err != nil {
				t.Fatalf("compile %q: %v", key, err)
			}
			if g.Match(gk) {
				matched = append(matched, key)
			}
		}
		if len(matched) != 1 || matched[0] != wildcardKey {
			t.Errorf("%s is matched by %v, want exactly [%s]", gk, matched, wildcardKey)
		}
	}
}

// The test harness itself must fail when the script misbehaves.
func TestRunHealthRejectsBadScripts(t *testing.T) {
	obj := map[string]any{"kind": "Component"}
	for name, script := range map[string]string{
		"invalid status": `return {status = "Fine", message = "x"}`,
		"not a table":    `return "Healthy"`,
		"string library": `return {status = "Healthy", message = string.format("%d", 1)}`,
		"endless loop":   `while true do end`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runHealth(script, obj, false); err == nil {
				t.Errorf("expected an error")
			}
		})
	}
	if _, err := runHealth(`return {status = "Healthy", message = string.format("%d", 1)}`, obj, true); err != nil {
		t.Errorf("with open libraries the string library must be available: %v", err)
	}
}
