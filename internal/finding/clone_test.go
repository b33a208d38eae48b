package finding_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/finding"
)

// cloneCases returns the findings Clone is tested on: the fixtures, which
// together set every field of the model (TestFixturesCoverModel), and one
// finding of every type in the catalogue, built by New and given the
// resource and service details of a fixture with the same action type.
func cloneCases(t testing.TB) map[string]*finding.Finding {
	t.Helper()
	out := map[string]*finding.Finding{}
	donors := map[string]*finding.Finding{} // by action type
	for i, f := range fixtures() {
		out["fixture "+strconv.Itoa(i)+" "+f.Type] = f
		if donors[f.Service.Action.ActionType] == nil {
			donors[f.Service.Action.ActionType] = f
		}
	}
	first := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	last := first.Add(90 * time.Minute)
	for _, typ := range finding.Types() {
		d := donors[typ.ActionType]
		if d == nil {
			t.Fatalf("no fixture has action type %s, the action of %s", typ.ActionType, typ.Name)
		}
		k := finding.Key{Account: fixtureAccount, Region: fixtureRegion, Resource: "i-0a1b2c3d4e5f60718", Role: finding.RoleTarget}
		f := finding.New(typ.Name, k, fixtureDetector, first, last, 5)
		f.Resource = d.Resource
		f.Resource.ResourceType = typ.ResourceType
		f.Service.Action = d.Service.Action
		f.Service.Action.ActionType = typ.ActionType
		f.Service.Evidence = d.Service.Evidence
		f.Service.AdditionalInfo = d.Service.AdditionalInfo
		f.Service.Detection = d.Service.Detection
		f.Confidence = d.Confidence
		f.AssociatedAttackSequenceArn = d.AssociatedAttackSequenceArn
		text(f, map[string]string{"resource": "i-0a1b2c3d4e5f60718", "remote": "198.51.100.23", "api": "ListBuckets"})
		out["type "+typ.Name] = f
	}
	return out
}

// TestClone checks that a clone equals its original, field for field
// (nil and empty apart) and in its JSON.
func TestClone(t *testing.T) {
	if (*finding.Finding)(nil).Clone() != nil {
		t.Error("Clone of a nil finding is not nil")
	}
	for name, f := range cloneCases(t) {
		t.Run(name, func(t *testing.T) {
			c := f.Clone()
			if c == f {
				t.Fatal("Clone returned its receiver")
			}
			if diff := cmp.Diff(f, c); diff != "" {
				t.Errorf("clone differs from the original (-original +clone):\n%s", diff)
			}
			want, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("clone encodes differently (-original +clone):\n%s", diff)
			}
		})
	}
}

// TestCloneSharesNothing walks a clone and its original and fails if any
// memory that can be changed through the clone (what a pointer points
// at, a slice element, a map) is reachable from the original too. As the
// fixtures set every field of the model, a field added later that Clone
// does not copy fails here.
func TestCloneSharesNothing(t *testing.T) {
	refs := 0
	for name, f := range cloneCases(t) {
		t.Run(name, func(t *testing.T) {
			orig := map[uintptr]string{}
			var problems []string
			walkRefs(reflect.ValueOf(f), "finding", func(addr uintptr, path string) {
				if _, ok := orig[addr]; !ok {
					orig[addr] = path
				}
			}, &problems)
			refs += len(orig)
			c := f.Clone()
			walkRefs(reflect.ValueOf(c), "finding", func(addr uintptr, path string) {
				if at, ok := orig[addr]; ok {
					t.Errorf("the clone's %s is the original's %s", path, at)
				}
			}, &problems)
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
	if refs < 500 {
		t.Errorf("found only %d references in the originals; the walk is broken", refs)
	}
}

// TestCloneSharesNothingFails checks that the walk of
// TestCloneSharesNothing finds what a shallow copy shares.
func TestCloneSharesNothingFails(t *testing.T) {
	for name, f := range cloneCases(t) {
		orig := map[uintptr]bool{}
		var problems []string
		walkRefs(reflect.ValueOf(f), "", func(addr uintptr, _ string) { orig[addr] = true }, &problems)
		shallow := *f
		shared := map[uintptr]bool{}
		walkRefs(reflect.ValueOf(&shallow), "", func(addr uintptr, _ string) {
			if orig[addr] {
				shared[addr] = true
			}
		}, &problems)
		// Everything but the finding itself.
		if len(shared) != len(orig)-1 {
			t.Errorf("%s: a shallow copy shares %d of %d references, want %d", name, len(shared), len(orig), len(orig)-1)
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

// walkRefs calls visit with the address of every piece of mutable memory
// reachable from v: the target of each non-nil pointer, each element of a
// slice, each map. Strings are immutable and a time's location is shared
// by design, so neither counts. A kind it cannot check (a channel, a
// function, an unsafe pointer) is a problem.
func walkRefs(v reflect.Value, path string, visit func(addr uintptr, path string), problems *[]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		visit(v.Pointer(), path)
		walkRefs(v.Elem(), path, visit, problems)
	case reflect.Slice:
		for i := range v.Len() {
			e := v.Index(i)
			p := path + "[" + strconv.Itoa(i) + "]"
			visit(e.UnsafeAddr(), p)
			walkRefs(e, p, visit, problems)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		visit(v.Pointer(), path)
		for it := v.MapRange(); it.Next(); {
			p := path + "[" + it.Key().String() + "]"
			walkRefs(it.Key(), p+"(key)", visit, problems)
			walkRefs(it.Value(), p, visit, problems)
		}
	case reflect.Array:
		for i := range v.Len() {
			walkRefs(v.Index(i), path+"["+strconv.Itoa(i)+"]", visit, problems)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			walkRefs(v.Field(i), path+"."+v.Type().Field(i).Name, visit, problems)
		}
	case reflect.Interface:
		if !v.IsNil() {
			walkRefs(v.Elem(), path, visit, problems)
		}
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		*problems = append(*problems, path+": cannot check a "+v.Kind().String()+" for sharing")
	}
}

// BenchmarkClone compares Clone with the JSON round trip it replaced in
// the SQL store; an op copies each of the five fixtures once.
func BenchmarkClone(b *testing.B) {
	fs := fixtures()
	b.Run("Clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range fs {
				_ = f.Clone()
			}
		}
	})
	b.Run("JSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range fs {
				body, err := json.Marshal(f)
				if err != nil {
					b.Fatal(err)
				}
				var c finding.Finding
				if err := json.Unmarshal(body, &c); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
