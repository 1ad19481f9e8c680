package localcos

import "testing"

// TestPostConditionsDisjointRanges: two content-length-ranges that each hold
// but share no size make a policy no upload can satisfy (COS and S3; OSS
// reads its own ranges, checked by FuzzOSSPostPolicy's seeds): refused, never
// a range whose minimum is above its maximum.
func TestPostConditionsDisjointRanges(t *testing.T) {
	fields := map[string]string{"key": "k"}
	lookup := func(f string) (string, bool) { v, ok := fields[f]; return v, ok }
	none := func(string) bool { return false }
	conds := []postFormCondition{
		{op: "eq", field: "key", value: "k"},
		{op: "content-length-range", min: 1, max: 2},
		{op: "content-length-range", min: 5, max: 10},
	}
	if size, err := checkPostConditionsWith(conds, fields, lookup, none); codeOf(err) != "AccessDenied" {
		t.Errorf("disjoint ranges: %+v, %v; want AccessDenied", size, err)
	}
	size, err := checkPostConditionsWith(conds[:2], fields, lookup, none)
	if err != nil || size.min != 1 || size.max != 2 {
		t.Errorf("one range: %+v, %v; want 1..2", size, err)
	}
}
