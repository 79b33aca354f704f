"""Drives drover's Ganeti RAPI with Debian's unchanged python3-ganeti-rapi.

Usage: rapi_client.py HOST PORT WRITE_USER WRITE_PW READ_USER READ_PW

Every call the RAPI layer supports is made; a wrong answer raises, which
exits non-zero with a traceback. Leaves instances web1 and db1 (file)
running on node1 for the htools comparison that follows.
"""
import sys

from ganeti.rapi import client as rc

host, port, wuser, wpw, ruser, rpw = sys.argv[1:7]
port = int(port)
w = rc.GanetiRapiClient(host, port=port, username=wuser, password=wpw)
r = rc.GanetiRapiClient(host, port=port, username=ruser, password=rpw)
anon = rc.GanetiRapiClient(host, port=port)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def fails(code, fn, *args, **kwargs):
    """fn must raise GanetiApiError with this HTTP code."""
    try:
        fn(*args, **kwargs)
    except rc.GanetiApiError as err:
        check(err.code == code, "%s: code %r, want %d (%s)" % (fn.__name__, err.code, code, err))
        return str(err)
    raise AssertionError("%s did not fail" % fn.__name__)


def done(job):
    check(isinstance(job, int), "job id %r is not an integer" % (job,))
    check(w.WaitForJobCompletion(job, period=0.2, retries=600), "job %d failed: %r" % (job, w.GetJobStatus(job)))
    return job


# Cluster
check(r.GetVersion() == 2, "version")
feats = r.GetFeatures()
check(rc.INST_CREATE_REQV1 in feats and rc.INST_REINSTALL_REQV1 in feats, "features %r" % feats)
info = r.GetInfo()
for k in ("name", "master", "tags", "ipolicy", "default_hypervisor", "software_version"):
    check(k in info, "info lacks %s" % k)
check(sorted(r.GetNodes()) == ["node1", "node2"], "nodes %r" % r.GetNodes())
bulk_nodes = r.GetNodes(bulk=True)
check(all(n["mtotal"] > 0 and n["offline"] is False for n in bulk_nodes), "bulk nodes %r" % bulk_nodes)
check(r.GetNode("node1")["name"] == "node1", "GetNode")
groups = r.GetGroups()
check(groups == ["default"], "groups %r" % groups)
g = r.GetGroups(bulk=True)[0]
check(g["node_cnt"] == 2 and "ipolicy" in g, "bulk groups %r" % g)
check(r.GetGroup("default")["name"] == "default", "GetGroup")

# Authentication: reads are anonymous here (the master runs with
# --rapi-anonymous-reads); writes need write access.
check(anon.GetInstances() == [], "anonymous read")
fails(401, anon.AddClusterTags, ["x"])
fails(403, r.AddClusterTags, ["x"])
fails(401, rc.GanetiRapiClient(host, port=port, username=wuser, password="wrong-password").AddClusterTags, ["x"])

# Errors in Ganeti's format (they used to raise KeyError 'code')
msg = fails(404, r.GetInstance, "nosuch")
check("nosuch" in msg, "404 message %r" % msg)
fails(404, r.GetJobStatus, 999999)

# Instances
done(w.CreateInstance("create", "web1", "file", [{"size": 512}], [{"link": "br0"}], os="tiny", pnode="node1",
                      beparams={"memory": 2048, "vcpus": 2}, ip_check=False, name_check=False))
# A diskless one, removed again: htools counts no spindles for diskless
# instances where drover's allocator counts one, so the score comparison
# runs on file instances only.
done(w.CreateInstance("create", "nodisk", "diskless", [], [], os="tiny", pnode="node2"))
check(r.GetInstance("nodisk")["disk_template"] == "diskless", "diskless")
done(w.DeleteInstance("nodisk"))
done(w.CreateInstance("create", "db1", "file", [{"size": 1024}], [], os="tiny", pnode="node1",
                      beparams={"maxmem": 1024, "minmem": 1024, "vcpus": 1}))
job = w.CreateInstance("create", "tmp1", "file", [{"size": 64}], [], os="tiny", pnode="node2")
check(isinstance(job, int), "create job id")
# WaitForJobChange until the job is finished, following its log.
prev, serial, seen_log = None, 0, False
for _ in range(100):
    ch = w.WaitForJobChange(job, ["status"], prev, serial)
    if ch is None:
        continue
    prev = ch["job_info"]
    for entry in ch["log_entries"]:
        serial = max(serial, entry[0])
        seen_log = True
    if prev[0] in rc.JOB_STATUS_FINALIZED:
        break
check(prev == ["success"] and seen_log, "WaitForJobChange ended with %r (log seen %s)" % (prev, seen_log))
st = r.GetJobStatus(job)
for k in ("id", "status", "ops", "opresult", "opstatus", "oplog", "summary", "received_ts", "start_ts", "end_ts"):
    check(k in st, "job lacks %s" % k)
check(st["id"] == job and st["opstatus"] == ["success"] and st["ops"][0]["OP_ID"] == "OP_INSTANCE_CREATE", "job %r" % st)
check(isinstance(st["received_ts"], list) and len(st["received_ts"]) == 2, "timestamps %r" % st["received_ts"])
check(job in r.GetJobs(), "GetJobs")

insts = r.GetInstances(bulk=True)
byname = dict((i["name"], i) for i in insts)
check(sorted(byname) == ["db1", "tmp1", "web1"], "instances %r" % sorted(byname))
check(byname["web1"]["beparams"]["memory"] == 2048 and byname["web1"]["pnode"] == "node1", "web1 %r" % byname["web1"])
check(byname["db1"]["disk.sizes"] == [1024] and byname["db1"]["status"] == "running", "db1 %r" % byname["db1"])
check(sorted(r.GetInstances()) == ["db1", "tmp1", "web1"], "GetInstances")

done(w.ShutdownInstance("tmp1", timeout=10))
check(r.GetInstance("tmp1")["status"] == "ADMIN_down", "after shutdown")
done(w.StartupInstance("tmp1"))
done(w.RebootInstance("tmp1", reboot_type="hard"))
check(r.GetInstance("tmp1")["status"] == "running", "after startup and reboot")
done(w.GrowInstanceDisk("tmp1", 0, 32))
check(r.GetInstance("tmp1")["disk.sizes"] == [96], "after grow")
done(w.ShutdownInstance("tmp1"))
done(w.ReinstallInstance("tmp1", no_startup=True))
done(w.RenameInstance("tmp1", "tmp2"))
check("tmp2" in r.GetInstances() and "tmp1" not in r.GetInstances(), "after rename")
done(w.DeleteInstance("tmp2"))
check("tmp2" not in r.GetInstances(), "after delete")
msg = fails(409, w.RenameInstance, "web1", "web9")
check("shut down" in msg, "rename of a running instance: %r" % msg)

# migrate of an instance on the fake hypervisor: refused at submit.
msg = fails(400, w.MigrateInstance, "web1")
check("does not migrate" in msg, "migrate on the fake hypervisor: %r" % msg)

# failover is for drbd instances (web1 has file disks): refused at submit.
msg = fails(409, w.FailoverInstance, "web1", ignore_consistency=False)
check("only drbd instances fail over" in msg, "failover of a file instance: %r" % msg)

# replace-disks is for drbd instances (web1 has file disks): refused at submit.
msg = fails(409, w.ReplaceInstanceDisks, "web1")
check("drbd" in msg, "replace-disks of a file instance: %r" % msg)
fails(400, w.ReplaceInstanceDisks, "web1", mode="replace_new_secondary")
# Evacuating and migrating a node whose instances all have file disks: one
# job that moves nothing (its plan lists them as not movable).
done(w.EvacuateNode("node1", mode="all"))
done(w.MigrateNode("node1"))

# Node roles
check(r.GetNodeRole("node2") == "regular", "role")
done(w.SetNodeRole("node2", "drained"))
check(r.GetNodeRole("node2") == "drained" and r.GetNode("node2")["drained"], "drained")
done(w.SetNodeRole("node2", "regular"))
check(r.GetNodeRole("node2") == "regular", "regular again")
fails(400, w.SetNodeRole, "node2", "master-candidate")

# Tags
done(w.AddClusterTags(["env:test", "team:ops"]))
done(w.DeleteClusterTags(["team:ops"]))
check(r.GetClusterTags() == ["env:test"] and r.GetInfo()["tags"] == ["env:test"], "cluster tags")
done(w.AddNodeTags("node1", ["rack:a"]))
check(r.GetNodeTags("node1") == ["rack:a"] and r.GetNode("node1")["tags"] == ["rack:a"], "node tags")
done(w.DeleteNodeTags("node1", ["rack:a"]))
check(r.GetNodeTags("node1") == [], "node tags removed")
done(w.AddInstanceTags("db1", ["role:db"]))
check(r.GetInstanceTags("db1") == ["role:db"] and r.GetInstance("db1")["tags"] == ["role:db"], "instance tags")
done(w.DeleteInstanceTags("db1", ["role:db"]))
fails(404, w.DeleteInstanceTags, "db1", ["never-set"])

check(all(i["status"] == "running" for i in r.GetInstances(bulk=True)), "web1 and db1 run")
print("rapi client: all calls passed")
