// Package explain turns what the inventory knows into a finding's
// details: the resource (instance, ECS task), the path the traffic took,
// the rules that admitted or blocked it, and the commands that would stop
// it. It imports finding, inventory and event; picket never runs the
// commands it prints.
package explain
