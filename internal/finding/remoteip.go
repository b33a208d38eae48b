package finding

import (
	"net/netip"
	"strconv"

	"picket/internal/event"
)

// RemoteIPWith returns the remoteIpDetails of address a with what
// enrichment knows about it (event.APICall.SourceInfo, say): country,
// city, location and organization, each present only when known, as
// GuardDuty renders them (the AS number as a string). A nil or zero info
// gives the address alone, like RemoteIP.
func RemoteIPWith(a netip.Addr, info *event.IPInfo) *RemoteIPDetails {
	d := RemoteIP(a)
	if info == nil {
		return d
	}
	if !info.CountryCode.IsZero() || !info.CountryName.IsZero() {
		d.Country = &Country{CountryCode: info.CountryCode.String(), CountryName: info.CountryName.String()}
	}
	if !info.City.IsZero() {
		d.City = &City{CityName: info.City.String()}
	}
	if info.HasLocation {
		d.GeoLocation = &GeoLocation{Lat: info.Lat, Lon: info.Lon}
	}
	if info.ASN != 0 || !info.ASOrg.IsZero() || !info.ISP.IsZero() || !info.Org.IsZero() {
		o := &Organization{AsnOrg: info.ASOrg.String(), Isp: info.ISP.String(), Org: info.Org.String()}
		if info.ASN != 0 {
			o.Asn = strconv.FormatUint(uint64(info.ASN), 10)
		}
		d.Organization = o
	}
	return d
}
