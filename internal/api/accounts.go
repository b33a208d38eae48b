package api

// accountRoutes are the operations on the accounts a detector speaks
// for: members, administrator and organization.
var accountRoutes = []route{}
