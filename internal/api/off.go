package api

import "net/http"

// Features of GuardDuty that picket does not offer, as the operations
// answering for them name them.
const (
	featureMalware      = "malware protection"
	featureAccounts     = "changes to membership: the API's account administers every account whose logs arrive"
	featureFreeTrial    = "a free trial"
	msgNotOfferedPrefix = "The request is rejected because picket does not offer "
)

// notOffered is the message of an operation of a feature picket does not
// offer.
func notOffered(feature string) string { return msgNotOfferedPrefix + feature + "." }

// offRoutes are the operations of GuardDuty's model that picket does not
// serve. They are matched only after routes, so an operation that a later
// change serves there takes over its path. Each answers what GuardDuty
// answers for a feature that is off: 400 BadRequestException, sub-type
// InvalidInputException, with a message that says picket does not offer
// the feature. A detector in the path is checked first, as for every
// other operation.
var offRoutes = func() []route {
	type off struct {
		method  string
		pattern []string
		op      string
		feature string
	}
	d := func(segments ...string) []string { return append([]string{"detector", "{}"}, segments...) }
	offs := []off{
		// Changes to membership and to the organization: the API's
		// account administers every account whose logs arrive (see
		// accounts.go, which serves the rest of these operations).
		{"POST", d("administrator"), "AcceptAdministratorInvitation", featureAccounts},
		{"POST", d("administrator", "disassociate"), "DisassociateFromAdministratorAccount", featureAccounts},
		{"POST", d("master"), "AcceptInvitation", featureAccounts},
		{"POST", d("master", "disassociate"), "DisassociateFromMasterAccount", featureAccounts},
		{"POST", p("admin", "enable"), "EnableOrganizationAdminAccount", featureAccounts},
		{"POST", p("admin", "disable"), "DisableOrganizationAdminAccount", featureAccounts},
		{"POST", d("admin"), "UpdateOrganizationConfiguration", featureAccounts},

		// Malware protection: picket reads logs and never scans a volume
		// or an object.
		{"GET", d("malware-scan-settings"), "GetMalwareScanSettings", featureMalware},
		{"POST", d("malware-scan-settings"), "UpdateMalwareScanSettings", featureMalware},
		{"POST", d("malware-scans"), "DescribeMalwareScans", featureMalware},
		{"POST", p("malware-protection-plan"), "CreateMalwareProtectionPlan", featureMalware},
		{"GET", p("malware-protection-plan"), "ListMalwareProtectionPlans", featureMalware},
		{"GET", p("malware-protection-plan", "{}"), "GetMalwareProtectionPlan", featureMalware},
		{"PATCH", p("malware-protection-plan", "{}"), "UpdateMalwareProtectionPlan", featureMalware},
		{"DELETE", p("malware-protection-plan", "{}"), "DeleteMalwareProtectionPlan", featureMalware},
		{"POST", p("malware-scan"), "ListMalwareScans", featureMalware},
		{"POST", p("malware-scan", "start"), "StartMalwareScan", featureMalware},
		{"GET", p("malware-scan", "{}"), "GetMalwareScan", featureMalware},
		{"POST", p("object-malware-scan", "send"), "SendObjectMalwareScan", featureMalware},

		// Billing.
		{"POST", d("freeTrial", "daysRemaining"), "GetRemainingFreeTrialDays", featureFreeTrial},
	}
	out := make([]route, 0, len(offs))
	for _, o := range offs {
		inDetector := o.pattern[0] == "detector"
		msg := notOffered(o.feature)
		out = append(out, route{o.method, o.pattern, o.op, func(h *Handler, rq *request) (any, error) {
			if inDetector {
				if _, err := h.detector(rq); err != nil {
					return nil, err
				}
			}
			return nil, badRequest(msg, errNotOffered)
		}, http.StatusOK})
	}
	return out
}()
