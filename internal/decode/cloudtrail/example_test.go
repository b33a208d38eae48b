package cloudtrail_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"picket/internal/decode/cloudtrail"
	"picket/internal/event"
)

// A Reader delivers each event of a trail into one reused APICall; a bad
// event is a *ParseError after which reading goes on. Free-form parts stay
// raw JSON, read lazily with event.JSONString and event.JSONBool.
func ExampleReader() {
	trail := `{"Records":[
{"eventVersion":"1.08","eventTime":"2024-03-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",
 "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/mallory","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},
 "sourceIPAddress":"203.0.113.9","requestParameters":{"name":"management"}},
{"eventVersion":"1.08","eventTime":1709287200,"eventName":"Broken"},
{"eventVersion":"1.08","eventTime":"2024-03-01T10:01:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets",
 "userIdentity":{"type":"AWSService","invokedBy":"config.amazonaws.com"},"sourceIPAddress":"config.amazonaws.com","errorCode":"AccessDenied"}
]}`
	r := cloudtrail.NewReader(strings.NewReader(trail), "trail.json")
	var c event.APICall
	for {
		err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			break
		}
		var bad *cloudtrail.ParseError
		if errors.As(err, &bad) {
			fmt.Printf("skipped: %s (%s)\n", bad, bad.Reason())
			continue
		}
		if err != nil {
			fmt.Println("input failed:", err)
			break
		}
		trailName, _ := event.JSONString(c.RequestParameters, "name")
		from := c.SourceService.String() // an AWS service, or else an address
		if c.SourceIP.IsValid() {
			from = c.SourceIP.String()
		}
		fmt.Printf("%s %s by %s %s from %s, failed=%v, by AWS service=%v, MFA=%v, trail=%q\n",
			c.Origin, c.EventName, c.Identity.Type, c.Identity.ARN, from,
			c.Failed(), c.ByAWSService(), c.Identity.Session.MFAAuthenticated, trailName)
	}
	// Output:
	// trail.json:1 StopLogging by AssumedRole arn:aws:sts::111122223333:assumed-role/Admin/mallory from 203.0.113.9, failed=false, by AWS service=false, MFA=false, trail="management"
	// skipped: trail.json:5: record 2: field "eventTime": value "1709287200": wrong JSON type for the field: want a string (type)
	// trail.json:3 ListBuckets by AWSService  from config.amazonaws.com, failed=true, by AWS service=true, MFA=-, trail=""
}
