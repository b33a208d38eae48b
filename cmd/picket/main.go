// Command picket detects reconnaissance in cloud logs and reports it as
// GuardDuty findings. See `picket help`.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
