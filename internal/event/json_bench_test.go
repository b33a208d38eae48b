package event_test

import (
	"testing"

	"picket/internal/event"
)

// BenchmarkJSONValue measures the lazy field reads on the two shapes they
// meet: a Zeek conn.log JSON line read field by field, and a CloudTrail
// requestParameters object read for one nested string.
func BenchmarkJSONValue(b *testing.B) {
	zeek := []byte(`{"ts":1700000010.5,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"203.0.113.5","id.orig_p":50000,"id.resp_h":"10.0.1.10","id.resp_p":22,"proto":"tcp","service":"ssh","duration":2.000123,"orig_bytes":300,"resp_bytes":1200,"conn_state":"SF","local_orig":false,"local_resp":true,"missed_bytes":0,"history":"ShAdDaFf","orig_pkts":5,"orig_ip_bytes":500,"resp_pkts":3,"resp_ip_bytes":1320,"tunnel_parents":[]}`)
	keys := []string{"ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration", "orig_bytes", "resp_bytes", "conn_state", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes"}
	b.Run("zeek-line", func(b *testing.B) {
		b.SetBytes(int64(len(zeek)))
		b.ReportAllocs()
		for b.Loop() {
			for _, k := range keys {
				if event.JSONValue(zeek, k) == nil {
					b.Fatal(k)
				}
			}
		}
	})
	params := []byte(`{"roleArn":"arn:aws:iam::123456789012:role/Admin","roleSessionName":"i-0abc123def456","durationSeconds":3600,"policyArns":[{"arn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}],"tags":[{"key":"team","value":"platform \"core\""}],"externalId":"ext-\u00e9\u00e9"}`)
	resp := []byte(`{"credentials":{"accessKeyId":"ASIAEXAMPLEKEY","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLETOKENXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX==","expiration":"Mar 4, 2026, 11:00:00 AM"},"assumedRoleUser":{"assumedRoleId":"AROAEXAMPLE:i-0abc","arn":"arn:aws:sts::123456789012:assumed-role/Admin/i-0abc"}}`)
	b.Run("cloudtrail", func(b *testing.B) {
		b.SetBytes(int64(len(params) + len(resp)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := event.JSONString(params, "roleArn"); !ok {
				b.Fatal("roleArn")
			}
			if _, ok := event.JSONString(resp, "credentials", "accessKeyId"); !ok {
				b.Fatal("accessKeyId")
			}
		}
	})
}
