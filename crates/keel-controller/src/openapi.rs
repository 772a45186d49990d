//! The OpenAPI 3.1 document served at `/openapi.json`. Written out here rather than
//! derived: the request schemas are few, and a test checks that every route the
//! router serves is described (see `api::routes`).

use serde_json::{Value, json};

/// (path, method, summary, role needed, request schema name)
const OPERATIONS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (
        "/api/v1/health",
        "get",
        "Liveness: the process answers.",
        "none",
        None,
    ),
    (
        "/api/v1/ready",
        "get",
        "Readiness: an allocation is installed (503 until then).",
        "none",
        None,
    ),
    (
        "/api/v1/status",
        "get",
        "Summary of the network, services and last allocation.",
        "any",
        None,
    ),
    (
        "/api/v1/topology",
        "get",
        "Sites (with SRv6 locators) and links.",
        "any",
        None,
    ),
    (
        "/api/v1/topology",
        "post",
        "Import a new topology version (Keel's native JSON schema); link states carry over by id.",
        "operator",
        Some("Topology"),
    ),
    (
        "/api/v1/links",
        "get",
        "Every link with state, capacity, planned and measured load.",
        "viewer",
        None,
    ),
    (
        "/api/v1/links/{id}",
        "get",
        "One link and the services crossing it.",
        "viewer",
        None,
    ),
    (
        "/api/v1/links/{id}/drain",
        "post",
        "Drain a link for maintenance: traffic moves off at once.",
        "operator",
        None,
    ),
    (
        "/api/v1/links/{id}/undrain",
        "post",
        "Return a drained link to service.",
        "operator",
        None,
    ),
    (
        "/api/v1/links/{id}/capacity",
        "put",
        "Change a link's capacity (rain fade, upgrade).",
        "operator",
        Some("Capacity"),
    ),
    (
        "/api/v1/links/{id}/utilisation",
        "get",
        "Measured utilisation history, oldest first: raw samples (kept 6 h), or 5-minute (kept 7 days) or 1-hour (kept a year) rollups with averages and maxima.",
        "viewer",
        None,
    ),
    (
        "/api/v1/sim/links/{id}/fail",
        "post",
        "Cut a link in the simulated network.",
        "operator",
        None,
    ),
    (
        "/api/v1/sim/links/{id}/restore",
        "post",
        "Restore a link in the simulated network.",
        "operator",
        None,
    ),
    (
        "/api/v1/sim/stats",
        "get",
        "Simulator observations (peak utilisation after updates, reaction time).",
        "viewer",
        None,
    ),
    (
        "/api/v1/services",
        "get",
        "Services visible to the caller.",
        "any",
        None,
    ),
    (
        "/api/v1/services",
        "post",
        "Create a service; 422 with the reason and the best offer when admission control refuses it.",
        "tenant",
        Some("Service"),
    ),
    (
        "/api/v1/services/{id}",
        "get",
        "One service with its status.",
        "any",
        None,
    ),
    (
        "/api/v1/services/{id}",
        "put",
        "Replace a service (admission control again).",
        "tenant",
        Some("Service"),
    ),
    (
        "/api/v1/services/{id}",
        "delete",
        "Remove a service.",
        "tenant",
        None,
    ),
    (
        "/api/v1/services/{id}/allocation",
        "get",
        "Paths, segment lists, rates, latency and why each path.",
        "any",
        None,
    ),
    (
        "/api/v1/allocation",
        "get",
        "The whole installed allocation with solver figures.",
        "viewer",
        None,
    ),
    (
        "/api/v1/audit",
        "get",
        "Audit log (query: after, limit).",
        "viewer",
        None,
    ),
    (
        "/api/v1/events",
        "get",
        "Server-Sent Events: audit, link-state, allocation, counters.",
        "any",
        None,
    ),
    (
        "/api/v1/tokens",
        "post",
        "Create a token; the secret is shown only in this reply.",
        "admin",
        Some("Token"),
    ),
    (
        "/api/v1/whatif",
        "post",
        "Failure what-if on the installed plan: per scenario the state after local repair onto backups and after re-optimisation, the worst utilisation per link and the scenario causing it, availability per class.",
        "viewer",
        Some("WhatIf"),
    ),
    (
        "/api/v1/predictions",
        "get",
        "Predicted congestion: the demand forecast per step, the best achievable maximum utilisation (min-MLU by the TE engine), and alerts with their lead time.",
        "viewer",
        None,
    ),
    (
        "/api/v1/agents",
        "get",
        "Agents (with `--southbound agents`): per site the state generation desired and applied, connection, last error.",
        "viewer",
        None,
    ),
    (
        "/api/v1/agents/{site}/state",
        "get",
        "Agent protocol v1 (`?protocol=1`): the site's forwarding state as Server-Sent Events, the latest at once and then each new generation (docs/agent-protocol.md).",
        "operator",
        None,
    ),
    (
        "/api/v1/agents/{site}/reports",
        "post",
        "Agent protocol v1: an agent's report (applied, failed, link-down, link-up, counters).",
        "operator",
        Some("AgentReport"),
    ),
    (
        "/",
        "get",
        "The web dashboard (HTML; it calls this API with a pasted token).",
        "none",
        None,
    ),
    ("/app.js", "get", "The dashboard's script.", "none", None),
    (
        "/style.css",
        "get",
        "The dashboard's style sheet.",
        "none",
        None,
    ),
    (
        "/metrics",
        "get",
        "Prometheus text exposition.",
        "viewer",
        None,
    ),
    ("/openapi.json", "get", "This document.", "none", None),
];

pub fn operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    OPERATIONS.iter().map(|(p, m, ..)| (*p, *m))
}

/// Query parameters of the operations that take some.
fn query_parameters(path: &str, method: &str) -> Option<Vec<Value>> {
    let q = |name: &str, schema: Value, description: &str| {
        json!({ "name": name, "in": "query", "required": false, "schema": schema,
                "description": description })
    };
    match (path, method) {
        ("/api/v1/links/{id}/utilisation", "get") => Some(vec![
            q(
                "resolution",
                json!({ "enum": ["raw", "5m", "1h"], "default": "raw" }),
                "Raw samples, or 5-minute or 1-hour buckets (at_ms is the bucket start; \
                 utilisation, offered_bps and carried_bps are averages, the *_max fields maxima).",
            ),
            q(
                "since",
                json!({ "type": "integer" }),
                "Only samples at or after this time, ms since the Unix epoch (alias since_ms).",
            ),
            q(
                "limit",
                json!({ "type": "integer", "minimum": 0, "default": 1000 }),
                "The newest samples up to this many (at most 100,000).",
            ),
        ]),
        ("/api/v1/audit", "get") => Some(vec![
            q(
                "after",
                json!({ "type": "integer" }),
                "Records after this sequence number.",
            ),
            q(
                "latest",
                json!({ "type": "boolean", "default": false }),
                "The newest records instead (up to limit), oldest first.",
            ),
            q(
                "limit",
                json!({ "type": "integer", "minimum": 0, "default": 1000 }),
                "At most this many records (at most 10,000).",
            ),
        ]),
        _ => None,
    }
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (path, method, summary, role, body) in OPERATIONS {
        let mut op = json!({
            "summary": summary,
            "description": format!("Role: {role}."),
            "responses": {
                "200": { "description": "OK" },
                "4XX": { "description": "Client error", "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        if *role != "none" {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if path.contains("{id}") {
            op["parameters"] = json!([{ "name": "id", "in": "path", "required": true,
                                        "schema": { "type": "string" } }]);
        }
        if let Some(query) = query_parameters(path, method) {
            let params = op["parameters"].as_array_mut();
            match params {
                Some(p) => p.extend(query),
                None => op["parameters"] = Value::Array(query),
            }
        }
        if let Some(schema) = body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    let rate = json!({ "type": "string", "description": "A rate with unit, e.g. \"400G\", \"2.5G\", \"100M\"." });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Keel controller API", "version": "1",
                  "description": "Backbone services, links and allocations of a Keel controller." },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" },
                                    "field": { "type": "string" }, "details": {} } } } },
                "Topology": { "type": "object", "required": ["sites", "links"],
                              "description": "Keel's native topology schema (README: the native format), as JSON.",
                              "properties": { "name": { "type": "string" },
                                              "sites": { "type": "array", "items": { "type": "object" } },
                                              "links": { "type": "array", "items": { "type": "object" } } } },
                "WhatIf": { "type": "object", "additionalProperties": false,
                            "properties": {
                                "set": { "enum": ["single-link", "single-srlg", "single-node", "double-link"] },
                                "scenarios": { "type": "array", "items": { "type": "string" },
                                               "description": "Each: elements separated by spaces, e.g. \"link:A->B node:C srlg:x\"." },
                                "reoptimise": { "enum": ["affected", "all", "none"] },
                                "top": { "type": "integer", "minimum": 0 } } },
                "Capacity": { "type": "object", "additionalProperties": false,
                              "required": ["capacity"], "properties": { "capacity": rate } },
                "Token": { "type": "object", "additionalProperties": false, "required": ["name", "role"],
                           "properties": { "name": { "type": "string" },
                                           "role": { "enum": ["admin", "operator", "tenant", "viewer"] },
                                           "tenant": { "type": "string" } } },
                "AgentReport": { "type": "object", "required": ["report"],
                             "properties": {
                                 "report": { "enum": ["applied", "failed", "link-down", "link-up", "counters"] },
                                 "generation": { "type": "integer" }, "error": { "type": "string" },
                                 "link": { "type": "string" },
                                 "links": { "type": "array", "items": { "type": "object" } } } },
            "Service": { "type": "object", "additionalProperties": false,
                             "required": ["kind", "endpoints", "class", "rate"],
                             "properties": {
                                 "id": { "type": "string" }, "tenant": { "type": "string" },
                                 "name": { "type": "string" },
                                 "kind": { "enum": ["internet", "intranet", "vpn"] },
                                 "endpoints": { "type": "array", "items": { "type": "object",
                                     "additionalProperties": false, "required": ["site"],
                                     "properties": { "site": { "type": "string" },
                                                     "prefixes": { "type": "array", "items": { "type": "string" } } } } },
                                 "class": { "enum": ["voice", "video", "interactive", "business", "bulk", "best-effort"] },
                                 "rate": rate,
                                 "latency_ms": { "type": "number" },
                                 "avoid_sites": { "type": "array", "items": { "type": "string" } },
                                 "avoid_srlgs": { "type": "array", "items": { "type": "string" } },
                                 "disjoint": { "type": "boolean" } } }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let mut documented: Vec<(String, String)> = operations()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        documented.sort();
        let mut served: Vec<(String, String)> = crate::api::routes()
            .into_iter()
            .flat_map(|(p, ms)| ms.iter().map(move |m| (p.to_string(), m.to_string())))
            .collect();
        served.sort();
        assert_eq!(documented, served);
        let doc = document();
        assert_eq!(
            doc["paths"]["/api/v1/services"]["post"]["requestBody"]["required"],
            true
        );
        let util = &doc["paths"]["/api/v1/links/{id}/utilisation"]["get"]["parameters"];
        let names: Vec<&str> = util
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["id", "resolution", "since", "limit"]);
        assert!(doc["paths"]["/"]["get"].get("security").is_none());
    }
}
