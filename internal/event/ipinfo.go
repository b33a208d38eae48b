package event

// IPInfo is what enrichment knows about an address: where it is and who
// runs it, from the user's MaxMind-format geolocation and ASN databases,
// and whether it is inside AWS, from the ip-ranges.json AWS publishes.
// The zero value means nothing is known (no databases were given, or
// they do not cover the address). finding.RemoteIPWith turns it into a
// finding's remoteIpDetails.
type IPInfo struct {
	CountryCode ID // ISO 3166-1 alpha-2, "DE"
	CountryName ID // in English
	City        ID // in English
	// Lat and Lon locate the address approximately; HasLocation says
	// whether they are known (0,0 is a place too).
	Lat, Lon    float64
	HasLocation bool
	ASN         uint32 // autonomous system number, 0 when unknown
	ASOrg       ID     // the AS's organization
	ISP         ID     // from ISP databases only
	Org         ID     // from ISP databases only
	// AWS says whether the address is inside AWS's published ranges:
	// TriUnset when no ranges were loaded, so that "outside AWS" is never
	// claimed without them. AWSService is the most specific service
	// listing the range ("EC2", "S3", ...; "AMAZON" when only that), and
	// AWSRegion its region ("us-east-1", "GLOBAL").
	AWS        Tri
	AWSService ID
	AWSRegion  ID
}

// IsZero reports whether nothing is known.
func (i *IPInfo) IsZero() bool { return *i == IPInfo{} }
