//! Integration tests of `keel serve`: the real binary on an ephemeral loopback
//! port with a temporary data directory, driven over its REST API.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::server::{Server, data_dir};

fn vpn(sites: &[&str], rate: &str) -> Value {
    json!({
        "kind": "vpn",
        "class": "business",
        "rate": rate,
        "endpoints": sites.iter().map(|s| json!({ "site": s })).collect::<Vec<_>>(),
    })
}

#[test]
fn tenants_see_and_manage_only_their_own_services() {
    let dir = data_dir("tenants");
    let s = Server::start(&dir);
    let acme = s.token("acme-ops", "tenant", Some("acme"));
    let globex = s.token("globex-ops", "tenant", Some("globex"));
    let viewer = s.token("noc", "viewer", None);

    let (st, a) = s.post("/api/v1/services", &acme, &vpn(&["NYCM", "CHIN"], "1G"));
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["service"]["tenant"], "acme");
    assert_eq!(a["admission"]["admitted"], "true");
    let acme_id = a["service"]["id"].as_str().expect("id").to_string();
    let (st, g) = s.post("/api/v1/services", &globex, &vpn(&["LOSA", "SNVA"], "1G"));
    assert_eq!(st, 201, "{g}");
    let globex_id = g["service"]["id"].as_str().expect("id").to_string();
    let mut admin_svc = vpn(&["WASH", "ATLA"], "1G");
    admin_svc["tenant"] = json!("initech");
    assert_eq!(s.post("/api/v1/services", &s.admin, &admin_svc).0, 201);

    // Each tenant lists only its own; the admin and the viewer see all three.
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|x| x["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(
        ids(&s.get("/api/v1/services", Some(&acme)).1),
        vec![acme_id.clone()]
    );
    assert_eq!(
        ids(&s.get("/api/v1/services", Some(&globex)).1),
        vec![globex_id.clone()]
    );
    assert_eq!(ids(&s.get("/api/v1/services", Some(&s.admin)).1).len(), 3);
    assert_eq!(ids(&s.get("/api/v1/services", Some(&viewer)).1).len(), 3);

    // Another tenant's service does not exist for you, whatever you try.
    let other = format!("/api/v1/services/{globex_id}");
    assert_eq!(s.get(&other, Some(&acme)).0, 404);
    assert_eq!(s.get(&format!("{other}/allocation"), Some(&acme)).0, 404);
    assert_eq!(s.request("DELETE", &other, Some(&acme), None).0, 404);
    let (st, _) = s.request(
        "PUT",
        &other,
        Some(&acme),
        Some(&vpn(&["LOSA", "SNVA"], "2G").to_string()),
    );
    assert_eq!(st, 404);
    // Ordering a service for another tenant is forbidden.
    let mut foreign = vpn(&["NYCM", "WASH"], "1G");
    foreign["tenant"] = json!("globex");
    assert_eq!(s.post("/api/v1/services", &acme, &foreign).0, 403);
    // A tenant reads its own allocation with segment lists.
    let (st, alloc) = s.get(
        &format!("/api/v1/services/{acme_id}/allocation"),
        Some(&acme),
    );
    assert_eq!(st, 200, "{alloc}");
    let flows = alloc["flows"].as_array().expect("flows");
    assert_eq!(flows.len(), 2);
    for f in flows {
        assert!(!f["paths"].as_array().expect("paths").is_empty(), "{f}");
        let (carried, rate) = (f["carried_bps"].as_f64(), f["rate_bps"].as_f64());
        assert!(
            carried
                .zip(rate)
                .is_some_and(|(c, r)| c >= r * (1.0 - 1e-6)),
            "{f}"
        );
    }

    // Roles: tenants cannot read the network, viewers cannot change it, only
    // admins make tokens; no or a wrong token is 401.
    assert_eq!(s.get("/api/v1/links", Some(&acme)).0, 403);
    assert_eq!(s.get("/api/v1/audit", Some(&globex)).0, 403);
    assert_eq!(s.get("/api/v1/links", Some(&viewer)).0, 200);
    assert_eq!(s.post("/api/v1/services", &viewer, &admin_svc).0, 403);
    assert_eq!(
        s.post("/api/v1/links/NYCM-%3ECHIN/drain", &viewer, &json!({}))
            .0,
        403
    );
    assert_eq!(
        s.post(
            "/api/v1/tokens",
            &acme,
            &json!({"name": "x", "role": "admin"})
        )
        .0,
        403
    );
    assert_eq!(s.get("/api/v1/services", None).0, 401);
    assert_eq!(s.get("/api/v1/services", Some("keel_not-a-token")).0, 401);

    // The tenant deletes its own service.
    assert_eq!(
        s.request(
            "DELETE",
            &format!("/api/v1/services/{acme_id}"),
            Some(&acme),
            None
        )
        .0,
        200
    );
    assert!(ids(&s.get("/api/v1/services", Some(&acme)).1).is_empty());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Link ids used by any path of the service's allocation.
fn links_used(s: &Server, id: &str) -> Vec<String> {
    let alloc = s.admin_get(&format!("/api/v1/services/{id}/allocation"));
    let mut out: Vec<String> = alloc["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .flat_map(|f| f["paths"].as_array().expect("paths").iter())
        .flat_map(|p| p["links"].as_array().expect("links").iter())
        .map(|l| l.as_str().expect("link").to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn encode(id: &str) -> String {
    id.replace('>', "%3E")
}

#[test]
fn a_failed_link_gets_a_new_allocation_that_avoids_it() {
    let dir = data_dir("failure");
    let s = Server::start(&dir);
    let (st, v) = s.post("/api/v1/services", &s.admin, &{
        let mut v = vpn(&["NYCM", "LOSA"], "2G");
        v["tenant"] = json!("acme");
        v
    });
    assert_eq!(st, 201, "{v}");
    let id = v["service"]["id"].as_str().expect("id").to_string();
    s.wait_for(
        |s| !links_used(s, &id).is_empty(),
        "the service's allocation",
    );
    let victim = links_used(&s, &id)[0].clone();
    let before = s.allocation_version();

    let (st, v) = s.post(
        &format!("/api/v1/sim/links/{}/fail", encode(&victim)),
        &s.admin,
        &json!({}),
    );
    assert_eq!(st, 200, "{v}");
    s.wait_for(|s| s.allocation_version() > before, "a new allocation");
    assert!(
        !links_used(&s, &id).contains(&victim),
        "{victim} still used"
    );
    // Nothing in the whole allocation crosses the failed link.
    let all = s.admin_get("/api/v1/allocation");
    let crossing = all["services"]
        .as_object()
        .expect("services")
        .values()
        .flat_map(|f| f.as_array().expect("flows").iter())
        .flat_map(|f| f["paths"].as_array().expect("paths").iter())
        .filter(|p| {
            p["links"]
                .as_array()
                .expect("links")
                .iter()
                .any(|l| l == &json!(victim))
        })
        .count();
    assert_eq!(crossing, 0);
    let svc = s.admin_get(&format!("/api/v1/services/{id}"));
    assert_eq!(svc["status"], "active", "{svc}");
    let link = s.admin_get(&format!("/api/v1/links/{}", encode(&victim)));
    assert_eq!(link["link"]["up"], false);
    let stats = s.admin_get("/api/v1/sim/stats");
    assert!(stats["last_failure_reaction"].is_object(), "{stats}");
    assert_eq!(
        stats["lost_bps"], 0.0,
        "traffic still sent into the failed link: {stats}"
    );
    let audit = s.admin_get("/api/v1/audit?limit=1000");
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .expect("audit")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or(""),
                a["subject"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        actions.contains(&("link.down", victim.as_str())),
        "{actions:?}"
    );
    assert!(audit.as_array().expect("audit").iter().any(|a| {
        a["action"] == "allocation.install"
            && a["detail"]["cause"]
                .as_str()
                .is_some_and(|c| c.contains(&format!("link {victim} down")))
    }));

    // Drain another used link as an operator: traffic leaves it too.
    let op = s.token("ops", "operator", None);
    let second = links_used(&s, &id)[0].clone();
    let before = s.allocation_version();
    assert_eq!(
        s.post(
            &format!("/api/v1/links/{}/drain", encode(&second)),
            &op,
            &json!({})
        )
        .0,
        200
    );
    s.wait_for(
        |s| s.allocation_version() > before,
        "an allocation after the drain",
    );
    assert!(!links_used(&s, &id).contains(&second));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_during_a_burst_of_writes_loses_nothing_acknowledged() {
    let dir = data_dir("kill9");
    let s = Server::start(&dir);
    let acked: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let pairs = [
        ("NYCM", "CHIN"),
        ("WASH", "ATLA"),
        ("LOSA", "SNVA"),
        ("KSCY", "DNVR"),
        ("HSTN", "IPLS"),
    ];
    let url = s.url.clone();
    let admin = s.admin.clone();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let acked = acked.clone();
            let (url, admin) = (url.clone(), admin.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                for n in 0..200 {
                    let (a, b) = pairs[(n + w) % pairs.len()];
                    let mut spec = vpn(&[a, b], "10M");
                    spec["id"] = json!(format!("burst-{w}-{n}"));
                    spec["tenant"] = json!(format!("t{w}"));
                    spec["name"] = json!(format!("writer {w} service {n}"));
                    let resp = agent
                        .post(&format!("{url}/api/v1/services"))
                        .header("Authorization", &format!("Bearer {admin}"))
                        .send_json(&spec);
                    match resp {
                        Ok(r) if r.status().as_u16() == 201 => {
                            acked
                                .lock()
                                .expect("lock")
                                .push((format!("burst-{w}-{n}"), spec));
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        // The server was killed: stop writing.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill while both writers are mid-burst.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = s;
    s.child.kill().expect("kill -9");
    let _ = s.child.wait();
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 20,
        "only {} writes acknowledged",
        acked.len()
    );
    drop(s);

    let s = Server::start(&dir);
    let listed = s.admin_get("/api/v1/services");
    let listed = listed.as_array().expect("list");
    for (id, spec) in &acked {
        let found = listed
            .iter()
            .find(|x| x["id"] == json!(id))
            .unwrap_or_else(|| panic!("acknowledged service {id} lost"));
        for key in ["tenant", "name", "kind", "class", "rate"] {
            assert_eq!(found[key], spec[key], "{id}: {key}");
        }
        let sites = |v: &Value| -> Vec<Value> {
            v["endpoints"]
                .as_array()
                .expect("endpoints")
                .iter()
                .map(|e| e["site"].clone())
                .collect()
        };
        assert_eq!(sites(found), sites(spec), "{id}");
    }
    // No partial record: every stored service is whole and was sent by a writer
    // (at most one per writer may have committed without its reply arriving).
    for x in listed {
        let id = x["id"].as_str().expect("id");
        assert!(id.starts_with("burst-"), "{id}");
        assert!(
            x["endpoints"].as_array().is_some_and(|e| e.len() == 2),
            "{x}"
        );
    }
    assert!(
        listed.len() <= acked.len() + 2,
        "{} stored, {} acknowledged",
        listed.len(),
        acked.len()
    );
    // The restarted controller programs the network from the stored state.
    let stats = s.admin_get("/api/v1/sim/stats");
    assert!(stats["batches"].as_u64().is_some_and(|b| b >= 1), "{stats}");
    s.wait_for(
        |s| {
            let v = s.admin_get("/api/v1/services");
            v.as_array()
                .is_some_and(|l| l.iter().all(|x| x["status"] == "active"))
        },
        "every restored service active",
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_gets_a_clear_4xx_naming_the_problem() {
    let dir = data_dir("badinput");
    let s = Server::start(&dir);
    let t = s.admin.clone();
    let post = |body: &str| s.request("POST", "/api/v1/services", Some(&t), Some(body));
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        ("{\"kind\": ".into(), 400, None),
        ("not json".into(), 400, None),
        ("[1, 2]".into(), 400, None),
        (
            json!({"kind": "vpn", "class": "business", "rate": "1G", "tenant": "a",
                "endpoints": [{"site": "NYCM"}, {"site": "CHIN"}], "colour": "red"})
            .to_string(),
            400,
            Some("colour"),
        ),
        (
            json!({"kind": 7, "class": "business", "rate": "1G", "endpoints": []}).to_string(),
            400,
            Some("kind"),
        ),
        (
            json!({"kind": "vpn", "class": "business", "rate": true, "tenant": "a",
                "endpoints": [{"site": "NYCM"}, {"site": "CHIN"}]})
            .to_string(),
            400,
            Some("rate"),
        ),
        (
            json!({"kind": "vpn", "class": "business", "rate": "1G", "tenant": "a",
                "endpoints": [{"site": "NOWHERE"}, {"site": "CHIN"}]})
            .to_string(),
            400,
            Some("endpoints[0].site"),
        ),
        (
            json!({"kind": "vpn", "class": "gold", "rate": "1G", "tenant": "a",
                "endpoints": [{"site": "NYCM"}, {"site": "CHIN"}]})
            .to_string(),
            400,
            Some("class"),
        ),
        (
            json!({"kind": "vpn", "class": "bulk", "rate": "1G", "tenant": "a",
                "endpoints": [{"site": "NYCM", "prefixes": ["10.0.0.0/8"]}, {"site": "CHIN"}]})
            .to_string(),
            400,
            Some("endpoints[0].prefixes[0]"),
        ),
        (
            json!({"kind": "vpn", "class": "bulk", "rate": "1G",
                "endpoints": [{"site": "NYCM"}, {"site": "CHIN"}]})
            .to_string(),
            400,
            Some("tenant"),
        ),
        (
            json!({"kind": "vpn", "class": "bulk", "rate": "1G", "tenant": "a b",
                "endpoints": [{"site": "NYCM"}, {"site": "CHIN"}]})
            .to_string(),
            400,
            Some("tenant"),
        ),
        (" ".repeat(100_000), 413, None),
    ];
    for (body, status, field) in &cases {
        let (st, v) = post(body);
        let shown: String = body.chars().take(60).collect();
        assert_eq!(st, *status, "{shown}: {v}");
        let err = &v["error"];
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{shown}: {v}"
        );
        assert!(err["code"].is_string(), "{v}");
        if let Some(f) = field {
            assert_eq!(err["field"], json!(f), "{shown}: {v}");
        }
    }
    // Other endpoints: unknown ids, wrong bodies, unknown query parameters.
    assert_eq!(s.get("/api/v1/services/none", Some(&t)).0, 404);
    assert_eq!(s.get("/api/v1/links/none", Some(&t)).0, 404);
    assert_eq!(s.get("/api/v1/nothing-here", Some(&t)).0, 404);
    assert_eq!(
        s.request("POST", "/api/v1/links/none/drain", Some(&t), Some("{}"))
            .0,
        404
    );
    let (st, v) = s.request(
        "PUT",
        "/api/v1/links/NYCM-%3ECHIN/capacity",
        Some(&t),
        Some("{\"capacity\": \"fast\"}"),
    );
    assert_eq!(
        (st, v["error"]["field"].clone()),
        (400, json!("capacity")),
        "{v}"
    );
    let (st, v) = s.get("/api/v1/audit?after=x", Some(&t));
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("after")),
        "{v}"
    );
    let (st, v) = s.request("DELETE", "/api/v1/links", Some(&t), None);
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (405, json!("method_not_allowed")),
        "{v}"
    );
    let (st, v) = s.post(
        "/api/v1/tokens",
        &t,
        &json!({"name": "x", "role": "tenant"}),
    );
    assert_eq!(
        (st, v["error"]["field"].clone()),
        (400, json!("tenant")),
        "{v}"
    );
    // Admission control refuses what does not fit, explaining why and what does.
    let mut huge = vpn(&["NYCM", "LOSA"], "400G");
    huge["tenant"] = json!("a");
    let (st, v) = s.post("/api/v1/services", &t, &huge);
    assert_eq!(st, 422, "{v}");
    let d = &v["error"]["details"];
    assert!(
        d["offered_rate_bps"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r < 400e9),
        "{v}"
    );
    assert!(
        !d["bottlenecks"].as_array().expect("bottlenecks").is_empty(),
        "{v}"
    );
    let mut fast = vpn(&["NYCM", "LOSA"], "1G");
    fast["tenant"] = json!("a");
    fast["latency_ms"] = json!(1.0);
    let (st, v) = s.post("/api/v1/services", &t, &fast);
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]["details"]["best_latency_ms"]
            .as_f64()
            .is_some_and(|l| l > 1.0),
        "{v}"
    );
    // Still healthy, nothing stored by the refused requests, OpenAPI served.
    assert_eq!(s.get("/api/v1/health", None).0, 200);
    assert!(
        s.admin_get("/api/v1/services")
            .as_array()
            .expect("list")
            .is_empty()
    );
    let (st, doc) = s.get("/openapi.json", None);
    assert_eq!(st, 200);
    assert!(doc["paths"]["/api/v1/services"]["post"].is_object());
    let (st, metrics) = s.request("GET", "/metrics", Some(&t), None);
    assert_eq!(st, 200);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("keel_link_up{link=\"NYCM->CHIN\"} 1")),
        "{metrics}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_topology_import_is_a_new_version_and_is_planned_at_once() {
    let dir = data_dir("import");
    let s = Server::start(&dir);
    let before = s.allocation_version();
    let triangle = json!({
        "name": "triangle",
        "sites": [{"id": "A"}, {"id": "B"}, {"id": "C"}],
        "links": [
            {"from": "A", "to": "B", "capacity": "100G", "bidirectional": true},
            {"from": "B", "to": "C", "capacity": "100G", "bidirectional": true},
            {"from": "C", "to": "A", "capacity": "10G", "bidirectional": true}
        ]
    });
    let viewer = s.token("noc", "viewer", None);
    assert_eq!(s.post("/api/v1/topology", &viewer, &triangle).0, 403);
    let (st, v) = s.post("/api/v1/topology", &s.admin, &triangle);
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["version"], 2);
    let topo = s.admin_get("/api/v1/topology");
    assert_eq!(topo["name"], "triangle");
    assert_eq!(topo["links"].as_array().expect("links").len(), 6);
    s.wait_for(
        |s| s.allocation_version() > before,
        "a plan on the new topology",
    );
    // Services on the new sites are admitted and routed.
    let mut svc = vpn(&["A", "C"], "20G");
    svc["tenant"] = json!("acme");
    let (st, v) = s.post("/api/v1/services", &s.admin, &svc);
    assert_eq!(st, 201, "{v}");
    let id = v["service"]["id"].as_str().expect("id").to_string();
    s.wait_for(
        |s| s.admin_get(&format!("/api/v1/services/{id}"))["status"] == "active",
        "active",
    );
    // A broken topology is refused and changes nothing.
    let broken = json!({"name": "x", "sites": [{"id": "A"}],
                        "links": [{"from": "A", "to": "Z", "capacity": "1G"}]});
    let (st, v) = s.post("/api/v1/topology", &s.admin, &broken);
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains('Z')),
        "{v}"
    );
    assert_eq!(s.admin_get("/api/v1/topology")["version"], 2);
    // The imported version is what a restart comes back with.
    drop(s);
    let s = Server::start(&dir);
    assert_eq!(s.admin_get("/api/v1/topology")["name"], "triangle");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Lines of the event stream as they arrive.
fn event_lines(s: &Server, token: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let url = format!("{}/api/v1/events", s.url);
    let auth = format!("Bearer {token}");
    std::thread::spawn(move || {
        let Ok(resp) = ureq::get(&url).header("Authorization", &auth).call() else {
            return;
        };
        let reader = BufReader::new(resp.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects stream lines until `until` holds for all seen so far, or 30 s pass.
fn collect_until(rx: &mpsc::Receiver<String>, until: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line);
                if until(&seen.join("\n")) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    seen
}

#[test]
fn the_event_stream_reports_changes_and_hides_the_network_from_tenants() {
    let dir = data_dir("events");
    let s = Server::start(&dir);
    let tenant = s.token("acme-ops", "tenant", Some("acme"));
    let admin_rx = event_lines(&s, &s.admin);
    let tenant_rx = event_lines(&s, &tenant);
    // Give both streams time to subscribe before anything happens.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        s.post("/api/v1/links/NYCM-%3ECHIN/drain", &s.admin, &json!({}))
            .0,
        200
    );
    let (st, v) = s.post("/api/v1/services", &tenant, &vpn(&["NYCM", "WASH"], "1G"));
    assert_eq!(st, 201, "{v}");
    let id = v["service"]["id"].as_str().expect("id").to_string();

    // The drain and the new service may share one re-plan: wait for both.
    let admin = collect_until(&admin_rx, |t| {
        t.contains(&format!("\"subject\":\"{id}\""))
            && t.contains("\"type\":\"allocation\"")
            && t.contains("\"type\":\"link-state\"")
    });
    let text = admin.join("\n");
    assert!(text.contains("event: link-state"), "{text}");
    assert!(
        text.contains("\"link\":\"NYCM->CHIN\"") && text.contains("\"drained\":true"),
        "{text}"
    );
    assert!(text.contains("event: allocation"), "{text}");

    let mine = collect_until(&tenant_rx, |l| l.contains(&format!("\"subject\":\"{id}\"")));
    let text = mine.join("\n");
    assert!(text.contains(&format!("\"subject\":\"{id}\"")), "{text}");
    assert!(
        !text.contains("link-state") && !text.contains("NYCM->CHIN"),
        "{text}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let dir = data_dir("settings");
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("keel.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ncolour = \"red\"\n").expect("write");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .output()
            .expect("run keel");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--config", config.to_str().expect("utf-8 path")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("colour"), "{err}");
    let (code, err) = run(&["--southbound", "netconf"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("netconf"), "{err}");
    let (code, err) = run(&["--listen", "127.0.0.1:0", "--exit", "ATLANTIS"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("ATLANTIS"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_if_answers_about_the_installed_plan() {
    let dir = data_dir("whatif");
    let s = Server::start(&dir);
    let viewer = s.token("noc", "viewer", None);
    let tenant = s.token("acme-ops", "tenant", Some("acme"));
    let (st, v) = s.post("/api/v1/whatif", &viewer, &json!({ "set": "single-link" }));
    assert_eq!(st, 200, "{v}");
    // Abilene has 14 physical links (28 arcs): one scenario each.
    assert_eq!(v["scenarios_evaluated"], 14, "{v}");
    let ranking = v["ranking"].as_array().expect("ranking");
    assert!(!ranking.is_empty());
    let lost = |r: &Value| r["reoptimised"]["lost_bps"].as_f64().expect("lost");
    assert!(
        ranking
            .windows(2)
            .all(|w| lost(&w[0]) >= lost(&w[1]) - 1e-3),
        "{v}"
    );
    for r in ranking {
        // Re-optimisation never delivers less than local repair left.
        assert!(
            lost(r) <= r["local"]["lost_bps"].as_f64().expect("local") + 1e-3,
            "{r}"
        );
    }
    let worst = v["worst_links"].as_array().expect("worst");
    assert!(
        worst
            .iter()
            .all(|w| w["local"].as_f64() >= w["base"].as_f64()),
        "{v}"
    );
    assert!(
        !v["availability"]
            .as_array()
            .expect("availability")
            .is_empty()
    );

    let (st, v) = s.post(
        "/api/v1/whatif",
        &viewer,
        &json!({ "scenarios": ["link:NYCM->CHIN"] }),
    );
    assert_eq!(
        (st, v["scenarios_evaluated"].clone()),
        (200, json!(1)),
        "{v}"
    );
    let (st, v) = s.post("/api/v1/whatif", &viewer, &json!({ "set": "everything" }));
    assert_eq!(
        (st, v["error"]["field"].clone()),
        (400, json!("set")),
        "{v}"
    );
    let (st, v) = s.post(
        "/api/v1/whatif",
        &viewer,
        &json!({ "scenarios": ["link:NOWHERE"] }),
    );
    assert_eq!(
        (st, v["error"]["field"].clone()),
        (400, json!("scenarios")),
        "{v}"
    );
    assert_eq!(
        s.post("/api/v1/whatif", &tenant, &json!({ "set": "single-link" }))
            .0,
        403
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn link_history_comes_raw_or_rolled_up_and_the_dashboard_is_served() {
    let dir = data_dir("history");
    let s = Server::start(&dir);
    let base = "/api/v1/links/NYCM-%3ECHIN/utilisation";
    // Counters every 200 ms: raw samples arrive at once.
    s.wait_for(
        |s| {
            s.admin_get(base)["samples"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        },
        "raw samples",
    );
    let raw = s.admin_get(&format!("{base}?resolution=raw&since=0&limit=5"));
    assert_eq!(raw["resolution"], "raw");
    let samples = raw["samples"].as_array().expect("samples");
    assert!(!samples.is_empty() && samples.len() <= 5, "{raw}");
    assert!(samples[0]["utilisation"].is_number(), "{raw}");
    // Samples after the newest there is: none.
    let newest = samples.last().expect("a sample")["at_ms"]
        .as_i64()
        .expect("at_ms");
    let later = s.admin_get(&format!("{base}?since={}", newest + 3_600_000));
    assert_eq!(later["samples"], json!([]));
    // No 5-minute bucket has completed since the start: an empty list, not an error.
    for r in ["5m", "1h"] {
        let v = s.admin_get(&format!("{base}?resolution={r}"));
        assert_eq!(v["resolution"], r);
        assert!(v["samples"].is_array(), "{v}");
    }
    let (st, v) = s.get(&format!("{base}?resolution=2m"), Some(&s.admin));
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["field"], "resolution");
    let tenant = s.token("acme-ops", "tenant", Some("acme"));
    assert_eq!(s.get(base, Some(&tenant)).0, 403);

    // The dashboard needs no token (the page holds no data) and loads nothing
    // from elsewhere.
    let page = ureq::get(&format!("{}/", s.url)).call().expect("dashboard");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.into_body().read_to_string().expect("html");
    assert!(html.contains("<script src=\"/app.js\">"), "{html}");
    for asset in ["/app.js", "/style.css"] {
        let (st, _) = s.get(asset, None);
        assert_eq!(st, 200, "{asset}");
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_audit_log_can_be_read_from_its_newest_end() {
    let dir = data_dir("audit-latest");
    let s = Server::start(&dir);
    s.token("noc", "viewer", None);
    let all = s.admin_get("/api/v1/audit");
    let seqs: Vec<i64> = all
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.len() >= 3, "{all}");
    let latest = s.admin_get("/api/v1/audit?latest=true&limit=2");
    let got: Vec<i64> = latest
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["seq"].as_i64().expect("seq"))
        .collect();
    // Later records may have come in between: the newest two, oldest first.
    assert_eq!(got.len(), 2, "{latest}");
    assert!(
        got[0] < got[1] && got[0] >= seqs[seqs.len() - 2],
        "{latest}"
    );
    let (st, v) = s.get("/api/v1/audit?latest=true&after=1", Some(&s.admin));
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["field"], "latest");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
