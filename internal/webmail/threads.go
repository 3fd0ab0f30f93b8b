package webmail

// Threads on the list: messages are joined when one names another in
// References or In-Reply-To (also through a message that is not here,
// as JWZ's algorithm does with its empty containers), and a reply
// ("Re:", "Fwd:", "AW:", "SV:"...) without such a link joins the thread
// of its subject. Threads are shown newest first, each with its messages
// newest first and its count.

import (
	"slices"
	"strings"
	"time"

	"boxmail/internal/mailmsg"
)

// threadMsg is what grouping needs of a message.
type threadMsg struct {
	ID      string   // Message-ID, with its <>
	Refs    []string // References then In-Reply-To, with their <>
	Subject string   // decoded
	When    time.Time
}

// threadFields reads the threading fields of a header.
func threadFields(hdr []byte) (id string, refs []string) {
	for f := range mailmsg.Fields(hdr) {
		switch {
		case f.Is("Message-ID") && id == "":
			if ids := msgIDs(string(mailmsg.Unfold(f.Value))); len(ids) > 0 {
				id = ids[0]
			}
		case f.Is("References"), f.Is("In-Reply-To"):
			refs = append(refs, msgIDs(string(mailmsg.Unfold(f.Value)))...)
		}
	}
	return id, refs
}

// msgIDs returns the <...> tokens of a field, at most 100.
func msgIDs(v string) []string {
	var out []string
	for len(out) < 100 {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if j > 1 {
			out = append(out, strings.ToLower(v[i:i+j+1]))
		}
		v = v[i+j+1:]
	}
	return out
}

// replyPrefixes are the subject prefixes of replies and forwards, lower
// case, in the languages mail apps commonly write.
var replyPrefixes = []string{"re:", "fwd:", "fw:", "aw:", "sv:", "vs:", "wg:", "tr:", "antw:", "rif:", "r:"}

// normSubject is a subject without its reply prefixes, [list] tags and
// spacing, lower case; reply tells whether a prefix was there.
func normSubject(s string) (norm string, reply bool) {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	for {
		cut := false
		if strings.HasPrefix(s, "[") {
			if j := strings.IndexByte(s, ']'); j > 0 {
				s, cut = strings.TrimSpace(s[j+1:]), true
			}
		}
		for _, p := range replyPrefixes {
			if rest, ok := strings.CutPrefix(s, p); ok {
				s, cut, reply = strings.TrimSpace(rest), true, true
			}
		}
		if !cut {
			return s, reply
		}
	}
}

// groupThreads returns the threads of msgs as lists of their indexes:
// each thread's messages newest first, the threads by their newest
// message, newest first.
func groupThreads(msgs []threadMsg) [][]int {
	parent := make([]int, len(msgs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		if ra, rb := find(a), find(b); ra != rb {
			parent[max(ra, rb)] = min(ra, rb)
		}
	}
	// A Message-ID (present or only referenced) belongs to the first
	// message that named it.
	owner := map[string]int{}
	link := func(id string, i int) {
		if o, ok := owner[id]; ok {
			union(o, i)
		} else {
			owner[id] = i
		}
	}
	for i, m := range msgs {
		if m.ID != "" {
			link(m.ID, i)
		}
		for _, r := range m.Refs {
			link(r, i)
		}
	}
	bySubject := map[string]int{}
	var replies []int
	for i, m := range msgs {
		n, reply := normSubject(m.Subject)
		if n == "" {
			continue
		}
		if _, ok := bySubject[n]; !ok {
			bySubject[n] = i
		}
		if reply && len(m.Refs) == 0 {
			replies = append(replies, i)
		}
	}
	for _, i := range replies {
		n, _ := normSubject(msgs[i].Subject)
		union(bySubject[n], i)
	}
	groups := map[int][]int{}
	for i := range msgs {
		r := find(i)
		groups[r] = append(groups[r], i)
	}
	out := make([][]int, 0, len(groups))
	newer := func(a, b int) int {
		if c := msgs[b].When.Compare(msgs[a].When); c != 0 {
			return c
		}
		return b - a
	}
	for _, g := range groups {
		slices.SortFunc(g, newer)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b []int) int { return newer(a[0], b[0]) })
	return out
}
