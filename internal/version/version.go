// Package version holds hubline's release version, sent in User-Agent headers.
package version

// Version is hubline's version. Outgoing Send Data requests carry
// "User-Agent: hubline/<Version>".
const Version = "0.1.0"
