// Command cel-oracle evaluates CEL expressions exactly as a ValidatingAdmissionPolicy
// of the pinned Kubernetes release does: the compiler, environment (stored-expressions
// mode, strict cost), variable declarations and activation of
// k8s.io/apiserver/pkg/admission/plugin/cel, fed with unstructured objects.
//
// It is a test oracle for Flotilla's CEL engine. It reads one JSON case per line on
// stdin and answers one JSON line per case on stdout, so a test keeps one process
// for thousands of cases:
//
//	in:  {"expr": "object.spec.replicas > 1", "object": {...}, "oldObject": null,
//	      "params": null, "namespaceObject": null, "variables": [{"name": "n", "expression": "1"}],
//	      "operation": "CREATE", "user": "alice", "groups": ["dev"], "authorizer": true}
//	out: {"value": {"t": "bool", "v": true}}
//	     {"error": {"class": "compile" | "runtime", "message": "..."}}
//
// Values are typed (doubles as their shortest decimal text, or NaN, +Inf, -Inf):
// {"t": "int"|"uint"|"double"|"string"|"bool"|"bytes"(base64)|"null"|
// "duration"(nanoseconds)|"timestamp"([seconds, nanos])|"type"(name), "v": ...},
// lists {"t": "list", "v": [...]}, maps {"t": "map", "v": [[key, value], ...]},
// optionals {"t": "optional", "v": value or null}, and any other (library) type as
// {"t": its CEL type name, "v": its string form}.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
)

type variable struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

type input struct {
	Expr            string          `json:"expr"`
	Object          json.RawMessage `json:"object"`
	OldObject       json.RawMessage `json:"oldObject"`
	Params          json.RawMessage `json:"params"`
	NamespaceObject json.RawMessage `json:"namespaceObject"`
	Variables       []variable      `json:"variables"`
	Operation       string          `json:"operation"`
	User            string          `json:"user"`
	Groups          []string        `json:"groups"`
	Authorizer      bool            `json:"authorizer"`
}

type failure struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

type output struct {
	Value any      `json:"value,omitempty"`
	Error *failure `json:"error,omitempty"`
}

// expression is an ExpressionAccessor accepting any result type, as messageExpression
// and variables do; the oracle reports the value, the caller decides what it expects.
type expression struct{ source string }

func (e expression) GetExpression() string      { return e.source }
func (e expression) ReturnTypes() []*celgo.Type { return []*celgo.Type{celgo.AnyType} }

type namedExpression struct {
	expression
	name string
}

func (e namedExpression) GetName() string { return e.name }

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var c input
		var res output
		if err := decode([]byte(line), &c); err != nil {
			res.Error = &failure{Class: "input", Message: err.Error()}
		} else {
			res = evaluate(&c)
		}
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "cel-oracle:", err)
			os.Exit(1)
		}
		// One answer per case, flushed, so the caller can stream.
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "cel-oracle:", err)
		os.Exit(1)
	}
}

func decode(b []byte, c *input) error {
	if err := json.Unmarshal(b, c); err != nil {
		return err
	}
	if c.Operation == "" {
		c.Operation = "CREATE"
	}
	return nil
}

// unstructuredOf turns a JSON object into the unstructured form the API server hands
// to admission (integers int64, other numbers float64), or nil for null/absent.
func unstructuredOf(raw json.RawMessage) (*unstructured.Unstructured, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	obj, _, err := unstructured.UnstructuredJSONScheme.Decode(raw, nil, nil)
	if err == nil {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			return u, nil
		}
	}
	// Objects without apiVersion/kind (test fixtures) go through the same number rules.
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: normalise(m).(map[string]any)}, nil
}

func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalise(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalise(e)
		}
		return t
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<63 {
			return int64(t)
		}
		return t
	default:
		return v
	}
}

var baseEnv = environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())

func evaluate(c *input) output {
	compiler, err := plugincel.NewCompositedCompiler(baseEnv)
	if err != nil {
		return output{Error: &failure{Class: "internal", Message: err.Error()}}
	}
	decls := plugincel.OptionalVariableDeclarations{HasParams: true, HasAuthorizer: c.Authorizer}
	vars := make([]plugincel.NamedExpressionAccessor, 0, len(c.Variables))
	for _, v := range c.Variables {
		vars = append(vars, namedExpression{expression{v.Expression}, v.Name})
	}
	compiler.CompileAndStoreVariables(vars, decls, environment.StoredExpressions)
	cond := compiler.CompileCondition([]plugincel.ExpressionAccessor{expression{c.Expr}}, decls, environment.StoredExpressions)
	if errs := cond.CompilationErrors(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return output{Error: &failure{Class: "compile", Message: strings.Join(msgs, "; ")}}
	}

	obj, err := unstructuredOf(c.Object)
	if err != nil {
		return output{Error: &failure{Class: "input", Message: "object: " + err.Error()}}
	}
	old, err := unstructuredOf(c.OldObject)
	if err != nil {
		return output{Error: &failure{Class: "input", Message: "oldObject: " + err.Error()}}
	}
	params, err := unstructuredOf(c.Params)
	if err != nil {
		return output{Error: &failure{Class: "input", Message: "params: " + err.Error()}}
	}
	var ns *corev1.Namespace
	if len(c.NamespaceObject) > 0 && string(c.NamespaceObject) != "null" {
		ns = &corev1.Namespace{}
		if err := json.Unmarshal(c.NamespaceObject, ns); err != nil {
			return output{Error: &failure{Class: "input", Message: "namespaceObject: " + err.Error()}}
		}
	}

	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	name, namespace := "", ""
	for _, o := range []*unstructured.Unstructured{obj, old} {
		if o != nil {
			if gv, err := schema.ParseGroupVersion(o.GetAPIVersion()); err == nil && o.GetKind() != "" {
				gvk = gv.WithKind(o.GetKind())
			}
			name, namespace = o.GetName(), o.GetNamespace()
			break
		}
	}
	var objRT, oldRT runtime.Object
	if obj != nil {
		objRT = obj
	}
	if old != nil {
		oldRT = old
	}
	info := &user.DefaultInfo{Name: c.User, Groups: c.Groups}
	attr := admission.NewAttributesRecord(objRT, oldRT, gvk, namespace, name, gvr, "", admission.Operation(c.Operation), nil, false, info)
	versioned := &admission.VersionedAttributes{
		Attributes:         attr,
		VersionedKind:      gvk,
		VersionedObject:    admission.NewLazyObject(objRT),
		VersionedOldObject: admission.NewLazyObject(oldRT),
	}
	request := plugincel.CreateAdmissionRequest(attr, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(gvk))
	bindings := plugincel.OptionalVariableBindings{}
	if params != nil {
		bindings.VersionedParams = params
	}
	if c.Authorizer {
		bindings.Authorizer = authorizer.AuthorizerFunc(rules)
	}
	ctx := compiler.CreateContext(context.Background())
	results, _, err := cond.ForInput(ctx, versioned, request, bindings, ns, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return output{Error: &failure{Class: "runtime", Message: err.Error()}}
	}
	if len(results) != 1 {
		return output{Error: &failure{Class: "internal", Message: "no result"}}
	}
	if results[0].Error != nil {
		return output{Error: &failure{Class: "runtime", Message: results[0].Error.Error()}}
	}
	v, err := typed(results[0].EvalResult)
	if err != nil {
		return output{Error: &failure{Class: "output", Message: err.Error()}}
	}
	return output{Value: v}
}

// rules is the fixed authorizer the differential tests describe to Flotilla as a rule
// set: user alice may get and list core pods in every namespace and get /healthz;
// nothing else is allowed.
func rules(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser() == nil || a.GetUser().GetName() != "alice" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	verb := a.GetVerb()
	if a.IsResourceRequest() {
		if a.GetAPIGroup() == "" && a.GetResource() == "pods" && a.GetSubresource() == "" && (verb == "get" || verb == "list") {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	}
	if a.GetPath() == "/healthz" && verb == "get" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

type tv struct {
	T string `json:"t"`
	V any    `json:"v,omitempty"`
}

func typed(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Int:
		return tv{"int", int64(x)}, nil
	case types.Uint:
		return tv{"uint", uint64(x)}, nil
	case types.Double:
		f := float64(x)
		switch {
		case math.IsNaN(f):
			return tv{"double", "NaN"}, nil
		case math.IsInf(f, 1):
			return tv{"double", "+Inf"}, nil
		case math.IsInf(f, -1):
			return tv{"double", "-Inf"}, nil
		}
		// As text: shortest form that reads back to the same double, so the
		// reader's float parsing cannot round it differently.
		return tv{"double", strconv.FormatFloat(f, 'g', -1, 64)}, nil
	case types.String:
		return map[string]any{"t": "string", "v": string(x)}, nil
	case types.Bool:
		return map[string]any{"t": "bool", "v": bool(x)}, nil
	case types.Bytes:
		return map[string]any{"t": "bytes", "v": base64.StdEncoding.EncodeToString(x)}, nil
	case types.Null:
		return tv{T: "null"}, nil
	case types.Duration:
		return map[string]any{"t": "duration", "v": x.Duration.Nanoseconds()}, nil
	case types.Timestamp:
		return map[string]any{"t": "timestamp", "v": []int64{x.Time.Unix(), int64(x.Time.Nanosecond())}}, nil
	case *types.Optional:
		if !x.HasValue() {
			return map[string]any{"t": "optional", "v": nil}, nil
		}
		inner, err := typed(x.GetValue())
		if err != nil {
			return nil, err
		}
		return map[string]any{"t": "optional", "v": inner}, nil
	case *types.Type:
		return tv{"type", x.TypeName()}, nil
	case *types.Err:
		return nil, x
	}
	if l, ok := v.(traits.Lister); ok && v.Type() == types.ListType {
		items := []any{}
		for it := l.Iterator(); it.HasNext() == types.True; {
			e, err := typed(it.Next())
			if err != nil {
				return nil, err
			}
			items = append(items, e)
		}
		return map[string]any{"t": "list", "v": items}, nil
	}
	if m, ok := v.(traits.Mapper); ok {
		entries := [][2]any{}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			kt, err := typed(k)
			if err != nil {
				return nil, err
			}
			vt, err := typed(m.Get(k))
			if err != nil {
				return nil, err
			}
			entries = append(entries, [2]any{kt, vt})
		}
		return map[string]any{"t": "map", "v": entries}, nil
	}
	return map[string]any{"t": v.Type().TypeName(), "v": fmt.Sprint(v.Value())}, nil
}
