// Tests of the Flux side (gitops/flux): the healthCheckExprs of the catalog Kustomization are
// evaluated the way kustomize-controller evaluates them (fluxcd/pkg/runtime/cel: the same CEL
// environment, observedGeneration checked first, then inProgress, failed, current) against every
// test case of health.lua, so Flux and Argo CD agree on when a catalog entity is ready.
package argocd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"sigs.k8s.io/yaml"
)

const fluxDir = "../flux"

type healthCheckExpr struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Current    string `json:"current"`
	InProgress string `json:"inProgress,omitempty"`
	Failed     string `json:"failed,omitempty"`
}

// fluxObjects reads every YAML document under gitops/flux.
func fluxObjects(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	err := filepath.WalkDir(fluxDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		for _, doc := range splitYAML(readFile(t, path)) {
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if obj == nil {
				continue
			}
			if obj["apiVersion"] == nil || obj["kind"] == nil {
				return fmt.Errorf("%s: a document without apiVersion/kind", path)
			}
			out[path] = append(out[path], obj)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, part := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		if len(bytes.TrimSpace(part)) > 0 {
			docs = append(docs, part)
		}
	}
	return docs
}

// catalogExprs returns the healthCheckExprs of every Flux Kustomization that has some, by
// Kustomization name.
func catalogExprs(t *testing.T) map[string][]healthCheckExpr {
	t.Helper()
	out := map[string][]healthCheckExpr{}
	for path, objs := range fluxObjects(t) {
		for _, obj := range objs {
			if obj["kind"] != "Kustomization" || !strings.HasPrefix(fmt.Sprint(obj["apiVersion"]), "kustomize.toolkit.fluxcd.io/") {
				continue
			}
			spec, _ := obj["spec"].(map[string]any)
			raw, ok := spec["healthCheckExprs"]
			if !ok {
				continue
			}
			b, _ := yaml.Marshal(raw)
			var exprs []healthCheckExpr
			if err := yaml.UnmarshalStrict(b, &exprs); err != nil {
				t.Fatalf("%s: healthCheckExprs: %v", path, err)
			}
			md := obj["metadata"].(map[string]any)
			out[fmt.Sprintf("%s/%s", md["namespace"], md["name"])] = exprs
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Kustomization with healthCheckExprs under %s", fluxDir)
	}
	return out
}

// newExpression builds a CEL program with kustomize-controller's environment (parsed, not
// compiled: the object's fields are untyped variables).
func newExpression(t *testing.T, expr string) cel.Program {
	t.Helper()
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Parse(expr)
	if iss != nil && iss.Err() != nil {
		t.Fatalf("parse %q: %v", expr, iss.Err())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
	if err != nil {
		t.Fatalf("program %q: %v", expr, err)
	}
	return prg
}

// fluxStatus evaluates like fluxcd/pkg/runtime/cel.StatusEvaluator.Evaluate. It returns
// InProgress, Failed or Current, or an error (kstatus then reports Unknown and Flux keeps
// waiting until the Kustomization's timeout).
func fluxStatus(t *testing.T, e healthCheckExpr, obj map[string]any) (string, error) {
	t.Helper()
	if st, ok := obj["status"].(map[string]any); ok {
		if observed, ok := st["observedGeneration"].(int64); ok {
			md, _ := obj["metadata"].(map[string]any)
			if generation, ok := md["generation"].(int64); ok && generation != observed {
				return "InProgress", nil
			}
		}
	}
	for _, step := range []struct {
		expr, status string
	}{{e.InProgress, "InProgress"}, {e.Failed, "Failed"}, {e.Current, "Current"}} {
		if step.expr == "" {
			continue
		}
		val, _, err := newExpression(t, step.expr).ContextEval(context.Background(), obj)
		if err != nil {
			return "", err
		}
		b, ok := val.(types.Bool)
		if !ok {
			return "", fmt.Errorf("%q is not a boolean expression", step.expr)
		}
		if b {
			return step.status, nil
		}
	}
	return "InProgress", nil
}

func TestFluxHealthCheckExprsCoverEveryKind(t *testing.T) {
	kinds := catalogKinds(t)
	for name, exprs := range catalogExprs(t) {
		byKind := map[string]healthCheckExpr{}
		for _, e := range exprs {
			if _, dup := byKind[e.Kind]; dup {
				t.Errorf("%s: %s listed twice", name, e.Kind)
			}
			byKind[e.Kind] = e
		}
		first := exprs[0]
		for _, k := range kinds {
			e, ok := byKind[k.Kind]
			if !ok {
				t.Errorf("%s: no healthCheckExprs entry for %s", name, k.Kind)
				continue
			}
			if want := catalogGroup + "/" + k.Version; e.APIVersion != want {
				t.Errorf("%s: %s has apiVersion %s, want %s", name, k.Kind, e.APIVersion, want)
			}
			if e.InProgress != first.InProgress || e.Failed != first.Failed || e.Current != first.Current {
				t.Errorf("%s: the expressions for %s differ from those for %s; all catalog kinds share one rule", name, k.Kind, first.Kind)
			}
		}
	}
}

// Flux and Argo CD must reach the same verdict on every test case.
func TestFluxAgreesWithHealthLua(t *testing.T) {
	want := map[string]string{"Healthy": "Current", "Progressing": "InProgress", "Degraded": "Failed"}
	for name, exprs := range catalogExprs(t) {
		byKind := map[string]healthCheckExpr{}
		for _, e := range exprs {
			byKind[e.Kind] = e
		}
		for _, tc := range loadTests(t) {
			t.Run(name+"/"+tc.InputPath, func(t *testing.T) {
				obj := decodeObject(t, readFile(t, tc.InputPath))
				e, ok := byKind[fmt.Sprint(obj["kind"])]
				if !ok {
					t.Fatalf("no healthCheckExprs for kind %v", obj["kind"])
				}
				got, err := fluxStatus(t, e, obj)
				if err != nil {
					// Only an object the controller has not written a status for yet may fail to
					// evaluate; Flux reports it Unknown and keeps waiting, like Progressing.
					if _, hasStatus := obj["status"]; hasStatus || tc.HealthStatus.Status != "Progressing" {
						t.Fatalf("evaluation failed: %v", err)
					}
					return
				}
				if got != want[tc.HealthStatus.Status] {
					t.Errorf("Flux: %s, Argo CD: %s (%s)", got, tc.HealthStatus.Status, tc.HealthStatus.Message)
				}
			})
		}
	}
}
