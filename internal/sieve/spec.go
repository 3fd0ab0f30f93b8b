package sieve

type argKind int

const (
	kNone argKind = iota
	kTag
	kNumber
	kString
	kStrList
)

func (k argKind) String() string {
	switch k {
	case kNumber:
		return "a number"
	case kString:
		return "a string"
	case kStrList:
		return "a string or a string list"
	}
	return "nothing"
}

// Tag groups whose members exclude each other.
const (
	gNone = iota
	gMatch
	gAddrPart
	gTransform
	gSize
)

type tagSpec struct {
	arg   argKind
	group int
	ext   string
}

// spec is what a command or test accepts.
type spec struct {
	ext   string
	tags  map[string]tagSpec
	args  []argKind
	tests int // 0: none, 1: one test, 2: a test list
	block bool
	// match: accepts :comparator and the match types.
	match bool
}

func commonTags(sp spec, tag string) (tagSpec, bool) {
	if !sp.match {
		return tagSpec{}, false
	}
	switch tag {
	case "comparator":
		return tagSpec{arg: kString}, true
	case "is", "contains", "matches":
		return tagSpec{group: gMatch}, true
	case "count", "value":
		return tagSpec{arg: kString, group: gMatch, ext: "relational"}, true
	}
	return tagSpec{}, false
}

var addrParts = map[string]tagSpec{"all": {group: gAddrPart}, "localpart": {group: gAddrPart}, "domain": {group: gAddrPart}}

var dateParts = []string{"year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday"}

var commands = map[string]spec{
	"require":    {args: []argKind{kStrList}},
	"if":         {tests: 1, block: true},
	"elsif":      {tests: 1, block: true},
	"else":       {block: true},
	"stop":       {},
	"keep":       {tags: map[string]tagSpec{"flags": {arg: kStrList, ext: "imap4flags"}}},
	"discard":    {},
	"fileinto":   {ext: "fileinto", args: []argKind{kString}, tags: map[string]tagSpec{"copy": {ext: "copy"}, "flags": {arg: kStrList, ext: "imap4flags"}}},
	"redirect":   {args: []argKind{kString}, tags: map[string]tagSpec{"copy": {ext: "copy"}}},
	"setflag":    {ext: "imap4flags", args: []argKind{kStrList}},
	"addflag":    {ext: "imap4flags", args: []argKind{kStrList}},
	"removeflag": {ext: "imap4flags", args: []argKind{kStrList}},
	"vacation": {ext: "vacation", args: []argKind{kString}, tags: map[string]tagSpec{
		"days": {arg: kNumber}, "subject": {arg: kString}, "from": {arg: kString},
		"addresses": {arg: kStrList}, "mime": {}, "handle": {arg: kString},
	}},
}

var tests = map[string]spec{
	"address":  {match: true, tags: addrParts, args: []argKind{kStrList, kStrList}},
	"envelope": {ext: "envelope", match: true, tags: addrParts, args: []argKind{kStrList, kStrList}},
	"header":   {match: true, args: []argKind{kStrList, kStrList}},
	"exists":   {args: []argKind{kStrList}},
	"size":     {tags: map[string]tagSpec{"over": {group: gSize}, "under": {group: gSize}}, args: []argKind{kNumber}},
	"allof":    {tests: 2},
	"anyof":    {tests: 2},
	"not":      {tests: 1},
	"true":     {},
	"false":    {},
	"body": {ext: "body", match: true, tags: map[string]tagSpec{
		"raw": {group: gTransform}, "text": {group: gTransform}, "content": {arg: kStrList, group: gTransform},
	}, args: []argKind{kStrList}},
	"hasflag":     {ext: "imap4flags", match: true, args: []argKind{kStrList}},
	"currentdate": {ext: "date", match: true, tags: map[string]tagSpec{"zone": {arg: kString}}, args: []argKind{kString, kStrList}},
}
