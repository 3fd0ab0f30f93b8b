package reports

import "testing"

// FuzzFromMessage: any message gives reports or an error, never a panic,
// and every report it gives has its sender, ID and domain.
func FuzzFromMessage(f *testing.F) {
	f.Add(reportMessage("Report Domain: example.org", "text/xml", "r.xml", []byte(gmailReport)))
	f.Add(reportMessage("Report Domain: example.org", "application/gzip", "r.gz", gz([]byte(tlsReport))))
	f.Add([]byte("Subject: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		rs, err := FromMessage(msg)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Org == "" || r.ID == "" || r.Domain == "" {
				t.Fatalf("report without its names: %+v", r)
			}
		}
		_ = Summarize(rs)
	})
}
