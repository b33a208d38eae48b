package finding

// portNames are the service names GuardDuty gives well-known ports in
// localPortDetails and remotePortDetails; every other port is "Unknown".
var portNames = map[int]string{
	20: "FTP-DATA", 21: "FTP", 22: "SSH", 23: "TELNET", 25: "SMTP", 53: "DNS",
	80: "HTTP", 110: "POP3", 111: "RPCBIND", 123: "NTP", 135: "MSRPC", 137: "NETBIOS-NS",
	139: "NETBIOS-SSN", 143: "IMAP", 161: "SNMP", 389: "LDAP", 443: "HTTPS", 445: "SMB",
	465: "SMTPS", 514: "SYSLOG", 587: "SMTP", 636: "LDAPS", 873: "RSYNC", 993: "IMAPS",
	995: "POP3S", 1433: "MSSQL", 1521: "ORACLE", 2049: "NFS", 2375: "DOCKER", 2376: "DOCKER",
	3306: "MYSQL", 3389: "RDP", 5432: "POSTGRESQL", 5900: "VNC", 5985: "WINRM", 5986: "WINRM",
	6379: "REDIS", 8080: "HTTP", 8443: "HTTPS", 8088: "YARN", 9200: "ELASTICSEARCH",
	9300: "ELASTICSEARCH", 11211: "MEMCACHED", 27017: "MONGODB",
}

// PortName returns the service name of a well-known port, or "Unknown".
func PortName(port int) string {
	if n, ok := portNames[port]; ok {
		return n
	}
	return "Unknown"
}

// Port returns the port details for a port.
func Port(port int) *PortDetails {
	return &PortDetails{Port: port, PortName: PortName(port)}
}
