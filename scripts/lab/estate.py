#!/usr/bin/env python3
"""The capture lab's estate: the one description of the emulated VPC.

Everything the lab builds comes from the table below: the topology file the
flow-log converter reads, each interface's security group as iptables
rules, the listeners each instance runs, and the list of addresses tools
may be pointed at. Subcommands:

  estate.py topology          topology.json on stdout
  estate.py plan              one line per node for the shell script
  estate.py sg NAME           iptables-restore input for NAME's security group
  estate.py igw-nft           the internet gateway's stateless NAT (nft)
  estate.py check TARGET...   exit 1 unless every address is a lab address
"""

import ipaddress
import json
import sys

ACCOUNT = "123456789012"
REGION = "us-east-1"
VPC = "vpc-0a1b2c3d4e5f60001"
SUBNETS = {
    "public": ("subnet-0a0000000000000a1", "10.0.1.0/24", "10.0.1.1"),
    "private": ("subnet-0a0000000000000a2", "10.0.2.0/24", "10.0.2.1"),
}
VPC_CIDR = "10.0.0.0/16"
MON = "10.0.1.16/32"  # the monitoring instance, allowed to scrape 9100

# The internet side: name -> addresses (the first is the main one).
INTERNET = {
    "scanner": ["203.0.113.66"],
    "brute": ["203.0.113.77"],
    "decoys": ["203.0.113.101", "203.0.113.102", "203.0.113.103"],
    "clients": [f"192.0.2.{i}" for i in range(130, 255)]
    + [f"203.0.113.{i}" for i in range(130, 255)],
    "svc": ["192.0.2.80", "192.0.2.81", "192.0.2.82", "192.0.2.53",
            "192.0.2.54", "192.0.2.55", "192.0.2.99"],
}
INTERNET_SERVICES = {
    "svc": ["http:192.0.2.80:80", "echo:192.0.2.80:443", "echo:192.0.2.81:443",
            "echo:192.0.2.82:443", "upstream:192.0.2.53:53",
            "upstream:192.0.2.54:53", "upstream:192.0.2.55:53",
            "http:192.0.2.99:80", "echo:192.0.2.99:443", "banner:192.0.2.99:22",
            "http:192.0.2.99:8443"],
}
# Gateway addresses of the internet segment (on the internet gateway).
INTERNET_GW = ["203.0.113.1/24", "192.0.2.1/24"]
# Prefixes a tool may be aimed at; anything else aborts the lab.
LAB_PREFIXES = ["10.0.1.0/24", "10.0.2.0/24", "198.51.100.0/26",
                "192.0.2.0/24", "203.0.113.0/24"]
INTERNET_PREFIXES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]


def tcp(port, cidr, to=None):
    return {"proto": "tcp", "from_port": port, "to_port": to or port, "cidr": cidr}


def udp(port, cidr, to=None):
    return {"proto": "udp", "from_port": port, "to_port": to or port, "cidr": cidr}


def icmp(cidr):
    return {"proto": "icmp", "cidr": cidr}


def every(cidr):
    return {"proto": "all", "cidr": cidr}


ANY = "0.0.0.0/0"

# name, subnet, host octet, public?, type, ingress, egress, listeners.
# Listener kinds are served by svc.py: ssh (the lab sshd), http, echo
# (reads a request, answers 2 KB), banner (greets, then reads), hold (an
# RDP-like port that reads and holds), udp (answers any datagram),
# metrics (a node-exporter-like /metrics), resolver (DNS forwarder).
NODES = [
    ("nlb", "public", 5, True, "network_load_balancer", [tcp(80, ANY)], None, []),
    ("natgw", "public", 6, True, "nat_gateway", [every(VPC_CIDR)], None, []),
    ("web1", "public", 10, True, "interface",
     [tcp(22, ANY), tcp(80, ANY), tcp(443, ANY), icmp(ANY), every(VPC_CIDR)], None,
     ["ssh", "http:80", "http:443", "metrics:9100"]),
    ("web2", "public", 11, True, "interface",
     [tcp(80, ANY), tcp(443, ANY), tcp(22, VPC_CIDR), tcp(9100, MON)], None,
     ["ssh", "http:80", "metrics:9100"]),
    ("web3", "public", 12, True, "interface",
     [tcp(80, ANY), tcp(22, VPC_CIDR), tcp(9100, MON)], None,
     ["ssh"]),
    ("bastion", "public", 13, True, "interface",
     [tcp(22, ANY), icmp(ANY), tcp(9100, MON)], None,
     ["ssh", "metrics:9100"]),
    ("app1", "public", 14, True, "interface",
     [tcp(22, ANY), tcp(8080, ANY), udp(161, ANY), udp(123, ANY),
      tcp(8080, MON, 8099), tcp(9100, MON)], None,
     ["ssh", "metrics:9100", "udp:161"] + [f"http:{p}" for p in range(8080, 8090)]),
    ("ci", "public", 15, True, "interface",
     [tcp(22, ANY), tcp(3389, ANY), tcp(8080, ANY), every(VPC_CIDR)], None,
     ["ssh", "hold:3389", "http:8080"]),
    ("mon", "public", 16, True, "interface",
     [tcp(22, ANY), tcp(9090, VPC_CIDR)], None,
     ["ssh", "http:9090", "metrics:9100"]),
    ("win1", "public", 17, True, "interface",
     [tcp(3389, ANY), tcp(5985, VPC_CIDR), icmp(ANY)], None,
     ["hold:3389", "http:5985"]),
    ("db1", "private", 10, False, "interface",
     [tcp(3306, VPC_CIDR), tcp(22, VPC_CIDR), tcp(9100, MON)], None,
     ["banner:3306", "ssh", "metrics:9100"]),
    ("db2", "private", 11, False, "interface",
     [tcp(3306, "10.0.1.0/24"), tcp(5432, VPC_CIDR), tcp(22, VPC_CIDR)], None,
     ["banner:3306"]),
    ("app2", "private", 12, False, "interface",
     [every(VPC_CIDR)], None,
     ["ssh", "http:8080", "metrics:9100"]),
    ("app3", "private", 13, False, "interface",
     [tcp(8080, VPC_CIDR), tcp(22, VPC_CIDR)], None,
     ["http:8080", "ssh"]),
    ("backup", "private", 14, False, "interface",
     [tcp(22, VPC_CIDR), tcp(9100, MON)], None,
     ["ssh", "metrics:9100"]),
    ("worker1", "private", 15, False, "interface",
     [tcp(22, VPC_CIDR)], None, ["ssh"]),
    ("worker2", "private", 16, False, "interface", [], None, []),
    ("cache", "private", 17, False, "interface",
     [tcp(6379, VPC_CIDR), tcp(9100, MON)], None, ["banner:6379"]),
    ("dns", "private", 53, False, "interface",
     [udp(53, VPC_CIDR), tcp(53, VPC_CIDR), tcp(22, VPC_CIDR), tcp(9100, MON)], None,
     ["resolver:53", "ssh", "metrics:9100"]),
]


def node(n):
    name, subnet, host, public, kind, ingress, egress, listen = n
    sid, cidr, gw = SUBNETS[subnet]
    third = ipaddress.ip_network(cidr).network_address.packed[2]
    num = third * 256 + host
    d = {
        "name": name, "subnet_name": subnet, "subnet": sid, "type": kind,
        "address": f"10.0.{third}.{host}", "gateway": gw,
        "public": f"198.51.100.{host}" if public and third == 1 else "",
        "eni": f"eni-0a{num:015x}",
        "instance": f"i-0a{num:015x}" if kind == "interface" else "",
        "ingress": ingress, "egress": egress, "listen": listen,
    }
    return d


def nodes():
    return [node(n) for n in NODES]


def topology():
    ifs = []
    for d in nodes():
        i = {"id": d["eni"], "instance": d["instance"], "subnet": d["subnet"],
             "type": d["type"], "name": d["name"], "addresses": [d["address"]],
             "public": [d["public"]] if d["public"] else []}
        if d["ingress"] is not None:
            i["ingress"] = d["ingress"]
        if d["egress"] is not None:
            i["egress"] = d["egress"]
        ifs.append(i)
    return {"account": ACCOUNT, "region": REGION, "vpc": VPC, "interfaces": ifs}


def rule_args(r, peer_flag):
    """iptables match arguments for one SG rule; peer_flag is -s or -d."""
    proto = r["proto"]
    args = []
    if r["cidr"] not in ("0.0.0.0/0",):
        args += [peer_flag, r["cidr"]]
    if proto == "all":
        return args
    if proto == "icmpv6":
        return None  # the lab is IPv4 only
    args += ["-p", proto]
    if proto in ("tcp", "udp") and "from_port" in r:
        lo, hi = r["from_port"], r.get("to_port", r["from_port"])
        args += ["--dport", str(lo) if lo == hi else f"{lo}:{hi}"]
    return args


def sg(name):
    """A stateful security group: replies and related ICMP pass, the
    listed rules admit new traffic, the rest is dropped. Rules carry no
    state match, so untracked probes (FIN, NULL, Xmas) are judged by the
    rules alone, as AWS judges them."""
    d = next(x for x in nodes() if x["name"] == name)
    out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
           ":OUTPUT ACCEPT [0:0]", ":sg-in - [0:0]", ":sg-out - [0:0]",
           "-A INPUT -i eth0 -j sg-in", "-A FORWARD -i eth0 -j sg-in",
           "-A OUTPUT -o eth0 -j sg-out", "-A FORWARD -o eth0 -j sg-out"]
    for chain, rules, flag in (("sg-in", d["ingress"], "-s"), ("sg-out", d["egress"], "-d")):
        if rules is None:
            out.append(f"-A {chain} -j ACCEPT")
            continue
        out.append(f"-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
        for r in rules:
            a = rule_args(r, flag)
            if a is not None:
                out.append(f"-A {chain} " + " ".join(a) + " -j ACCEPT")
        out.append(f"-A {chain} -j DROP")
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def igw_nft():
    """Stateless 1:1 translation for what conntrack calls invalid (FIN,
    NULL and Xmas probes, RSTs answering them): an internet gateway
    translates every packet, tracked or not. Tracked traffic is handled by
    the DNAT/SNAT rules the shell script adds."""
    pairs = [(d["public"], d["address"]) for d in nodes() if d["public"]]
    dmap = ", ".join(f"{p} : {a}" for p, a in pairs)
    smap = ", ".join(f"{a} : {p}" for p, a in pairs)
    return f"""table ip picketlab_igw {{
  chain pre {{
    type filter hook prerouting priority -150; policy accept;
    ct state invalid ip daddr {{ {", ".join(p for p, _ in pairs)} }} ip daddr set ip daddr map {{ {dmap} }}
  }}
  chain post {{
    type filter hook postrouting priority 150; policy accept;
    ct state invalid oifname "br0" ip saddr {{ {", ".join(a for _, a in pairs)} }} ip saddr set ip saddr map {{ {smap} }}
  }}
}}
"""


def expand(target):
    """Every address a target names (an address or a CIDR prefix)."""
    if "/" in target:
        net = ipaddress.ip_network(target, strict=False)
        return list(net)
    return [ipaddress.ip_address(target)]


def check(targets):
    allowed = [ipaddress.ip_network(p) for p in LAB_PREFIXES]
    bad = []
    count = 0
    for t in targets:
        for t2 in t.split(","):
            if not t2:
                continue
            try:
                addrs = expand(t2)
            except ValueError:
                bad.append(t2)
                continue
            for a in addrs:
                count += 1
                if not any(a in n for n in allowed):
                    bad.append(str(a))
    if bad or count == 0:
        print("refusing targets outside the lab: " + " ".join(bad[:10] or ["(none given)"]),
              file=sys.stderr)
        return 1
    return 0


def plan():
    # name ns-kind type address public gateway eni instance listeners
    for d in nodes():
        print(" ".join([d["name"], "vpc", d["type"], d["address"], d["public"] or "-",
                        d["gateway"], d["eni"], d["instance"] or "-",
                        ",".join(d["listen"]) or "-"]))
    for name, addrs in INTERNET.items():
        print(" ".join([name, "internet", "host", ",".join(addrs), "-", "-", "-", "-",
                        ",".join(INTERNET_SERVICES.get(name, [])) or "-"]))


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[0]
    if cmd == "topology":
        json.dump(topology(), sys.stdout, indent=1)
        print()
    elif cmd == "plan":
        plan()
    elif cmd == "sg":
        sys.stdout.write(sg(argv[1]))
    elif cmd == "igw-nft":
        sys.stdout.write(igw_nft())
    elif cmd == "check":
        return check(argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
