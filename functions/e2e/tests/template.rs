//! Reads `template.yaml` and checks the properties the deployment must have.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_yaml_ng::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources(t: &Value) -> &serde_yaml_ng::Mapping {
    t["Resources"].as_mapping().unwrap()
}

fn functions(t: &Value) -> Vec<(String, &Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(k, r)| (k.as_str().unwrap().to_string(), r))
        .collect()
}

/// The logical ids a value refers to through !Ref, !GetAtt or !Sub.
fn referenced(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            match (tag.as_str(), &t.value) {
                // `AWS::NoValue` (an `!If` branch that leaves a value out) names nothing.
                ("!Ref", Value::String(s)) if s.starts_with("AWS::") => {}
                ("!Ref", Value::String(s)) => {
                    out.insert(s.clone());
                }
                ("!GetAtt", Value::String(s)) => {
                    out.insert(s.split('.').next().unwrap_or_default().to_string());
                }
                ("!Sub", Value::String(s)) => {
                    for part in s.split("${").skip(1) {
                        let name = part.split('}').next().unwrap_or_default();
                        if !name.starts_with("AWS::") {
                            out.insert(name.split('.').next().unwrap_or_default().to_string());
                        }
                    }
                }
                (_, inner) => referenced(inner, out),
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| referenced(x, out)),
        Value::Mapping(m) => m.values().for_each(|x| referenced(x, out)),
        _ => {}
    }
}

/// A function's policy statements; a statement under `!If [Condition, statement,
/// AWS::NoValue]` counts as the statement (what the function may do when it applies).
fn statements(function: &Value) -> Vec<&Value> {
    function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .map(|s| match tagged(s, "!If") {
            Some(branches) if branches.len() == 3 => &branches[1],
            _ => s,
        })
        .collect()
}

fn resource_values(statement: &Value) -> Vec<&Value> {
    match &statement["Resource"] {
        Value::Sequence(s) => s.iter().collect(),
        other => vec![other],
    }
}

/// What each function may touch, by logical id.
fn own_resources(function: &str) -> &'static [&'static str] {
    match function {
        "ApiCommandsFunction" => &[
            "Table",
            "PlanQueue",
            "AccountQueue",
            "DocumentQueue",
            "DeliveryQueue",
            "WebhookQueue",
            "ConsoleSessionSecret",
        ],
        "ApiQueriesFunction" => &["Table", "DocumentsBucket", "ConsoleSessionSecret"],
        "PlanRunFunction" => &["Table", "PlanQueue", "AccountQueue", "DeliveryQueue"],
        "ProcessAccountFunction" => &["Table", "AccountQueue", "DeliveryQueue"],
        "ExecuteSchedulesFunction" => &[
            "Table",
            "PlanQueue",
            "AccountQueue",
            "DocumentQueue",
            "DeliveryQueue",
        ],
        "GenerateDocumentsFunction" => &["Table", "DocumentsBucket", "DocumentQueue"],
        // The SES identity and configuration set are the template's parameters; a
        // recorded bounce queues its event for dispatch-events.
        "DeliverDocumentsFunction" => &[
            "Table",
            "DocumentsBucket",
            "DocumentQueue",
            "DeliveryQueue",
            "WebhookQueue",
            "SenderIdentity",
            "SesConfigurationSet",
        ],
        "DispatchEventsFunction" => &["Table", "WebhookQueue", "EventsDeadLetterQueue", "EventBus"],
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn every_function_policy_names_only_its_own_resources_and_never_a_wildcard() {
    let t = template();
    for (name, f) in functions(&t) {
        let allowed: BTreeSet<String> =
            own_resources(&name).iter().map(|s| s.to_string()).collect();
        let stmts = statements(f);
        assert!(!stmts.is_empty(), "{name} has an inline policy");
        for s in stmts {
            for r in resource_values(s) {
                assert_ne!(r.as_str(), Some("*"), "{name}: a '*' resource");
                let mut refs = BTreeSet::new();
                referenced(r, &mut refs);
                assert!(
                    !refs.is_empty(),
                    "{name}: resource {r:?} names no resource of the template"
                );
                assert!(
                    refs.is_subset(&allowed),
                    "{name}: {refs:?} outside {allowed:?}"
                );
            }
            let actions = match &s["Action"] {
                Value::Sequence(a) => a.clone(),
                other => vec![other.clone()],
            };
            for a in actions {
                assert!(
                    !a.as_str().unwrap_or("*").contains('*'),
                    "{name}: wildcard action {a:?}"
                );
            }
        }
    }
}

#[test]
fn every_sqs_event_source_reports_item_failures_and_its_queue_has_a_dlq_and_six_times_the_timeout()
{
    let t = template();
    let res = resources(&t);
    let mut sources = 0;
    for (name, f) in functions(&t) {
        let timeout = f["Properties"]["Timeout"].as_u64().unwrap();
        for (_, event) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if event["Type"] != "SQS" {
                continue;
            }
            sources += 1;
            let p = &event["Properties"];
            assert_eq!(
                p["FunctionResponseTypes"][0], "ReportBatchItemFailures",
                "{name}"
            );
            assert!(
                !p["ScalingConfig"]["MaximumConcurrency"].is_null(),
                "{name}: bounded concurrency"
            );
            let mut refs = BTreeSet::new();
            referenced(&p["Queue"], &mut refs);
            let queue = refs.iter().next().unwrap();
            let q = &res[queue.as_str()]["Properties"];
            let visibility = q["VisibilityTimeout"].as_u64().unwrap();
            assert!(
                visibility >= 6 * timeout,
                "{queue}: {visibility} < 6 × {timeout}"
            );
            let mut dlq = BTreeSet::new();
            referenced(&q["RedrivePolicy"]["deadLetterTargetArn"], &mut dlq);
            let dlq = dlq
                .iter()
                .next()
                .unwrap_or_else(|| panic!("{queue} has no DLQ"));
            assert_eq!(res[dlq.as_str()]["Type"], "AWS::SQS::Queue");
        }
    }
    assert!(sources >= 2);
    // Every work queue has a DLQ and an alarm on it.
    for q in [
        "PlanQueue",
        "AccountQueue",
        "DocumentQueue",
        "DeliveryQueue",
        "WebhookQueue",
    ] {
        assert!(
            !res[q]["Properties"]["RedrivePolicy"].is_null(),
            "{q} has a DLQ"
        );
    }
    let alarms = res
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .count();
    assert!(alarms >= 5 + functions(&t).len());
}

#[test]
fn run_writes_reach_dispatch_events_from_the_stream_and_the_bus_is_exported() {
    let t = template();
    let res = resources(&t);
    assert_eq!(
        res["Table"]["Properties"]["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    let f = &res["DispatchEventsFunction"]["Properties"];
    let stream = &f["Events"]["RunWrites"];
    assert_eq!(stream["Type"], "DynamoDB");
    let p = &stream["Properties"];
    assert_eq!(p["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    assert_eq!(p["BisectBatchOnFunctionError"], true);
    let pattern: serde_json::Value = serde_json::from_str(
        p["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pattern["dynamodb"]["Keys"]["sk"]["S"][0], "RUN");
    let mut dlq = BTreeSet::new();
    referenced(
        &p["DestinationConfig"]["OnFailure"]["Destination"],
        &mut dlq,
    );
    assert!(dlq.contains("EventsDeadLetterQueue"), "{dlq:?}");
    assert_eq!(res["EventBus"]["Type"], "AWS::Events::EventBus");
    let mut bus = BTreeSet::new();
    referenced(&f["Environment"]["Variables"]["EVENT_BUS_NAME"], &mut bus);
    assert!(bus.contains("EventBus"));
    assert!(!t["Outputs"]["EventBusName"]["Export"].is_null());
    let actions = granted("DispatchEventsFunction");
    assert!(actions.contains("events:PutEvents"));
}

#[test]
fn only_deliver_documents_may_send_email_and_only_from_the_sender_identity() {
    let t = template();
    for (name, f) in functions(&t) {
        let ses: Vec<&Value> = statements(f)
            .into_iter()
            .filter(|s| granted_by(s).iter().any(|a| a.starts_with("ses:")))
            .collect();
        if name != "DeliverDocumentsFunction" {
            assert!(ses.is_empty(), "{name} may send email");
            continue;
        }
        assert_eq!(ses.len(), 1, "{name}");
        assert_eq!(
            granted_by(ses[0]),
            BTreeSet::from(["ses:SendEmail".to_string(), "ses:SendRawEmail".to_string()])
        );
        let mut refs = BTreeSet::new();
        referenced(&ses[0]["Resource"], &mut refs);
        assert_eq!(
            refs,
            BTreeSet::from([
                "SenderIdentity".to_string(),
                "SesConfigurationSet".to_string()
            ])
        );
        // Its queue is its own: no other function consumes the delivery queue.
    }
    for (name, f) in functions(&t) {
        for (_, event) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            let mut refs = BTreeSet::new();
            referenced(&event["Properties"]["Queue"], &mut refs);
            assert_eq!(
                refs.contains("DeliveryQueue"),
                name == "DeliverDocumentsFunction",
                "{name}"
            );
        }
    }
}

#[test]
fn the_bucket_is_private_encrypted_and_refuses_plain_http() {
    let t = template();
    let res = resources(&t);
    let bucket = &res["DocumentsBucket"]["Properties"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(bucket["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    assert!(!bucket["BucketEncryption"].is_null());
    assert!(!bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap()
        .is_empty());
    let policy = &res["DocumentsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Effect"], "Deny");
    assert_eq!(policy["Condition"]["Bool"]["aws:SecureTransport"], "false");
}

#[test]
fn the_table_is_on_demand_recoverable_encrypted_with_its_indexes() {
    let t = template();
    let table = &resources(&t)["Table"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    // A preview's items expire by the attribute the DynamoDB adapter writes.
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        billrun_aws::dynamo::TTL
    );
    let names: Vec<&str> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gsi1", "gsi2"]);
}

/// The IAM actions a function's policy grants, by function.
pub fn granted(function: &str) -> BTreeSet<String> {
    let t = template();
    let f = &resources(&t)[function];
    statements(f).into_iter().flat_map(granted_by).collect()
}

/// The IAM actions of one statement.
fn granted_by(s: &Value) -> BTreeSet<String> {
    match &s["Action"] {
        Value::Sequence(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        other => other.as_str().map(str::to_string).into_iter().collect(),
    }
}

/// A tagged YAML value (`!If [...]`) as its tag and sequence.
fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Vec<Value>> {
    match v {
        Value::Tagged(t) if t.tag == tag => t.value.as_sequence(),
        _ => None,
    }
}

#[test]
fn every_api_route_requires_iam_or_jwt_auth_and_nothing_else_reaches_the_functions() {
    let t = template();
    let r = resources(&t);
    // The console's routes are checked on their own (the test below).
    let routes: Vec<(&str, &Value)> = api_routes(r)
        .into_iter()
        .filter(|(_, v)| !console_route(v))
        .collect();
    let methods: BTreeSet<&str> = routes
        .iter()
        .map(|(_, v)| v["Properties"]["RouteKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        BTreeSet::from([
            "DELETE /{proxy+}",
            "GET /{proxy+}",
            "PATCH /{proxy+}",
            "POST /{proxy+}",
            "PUT /{proxy+}"
        ]),
        "no $default or unauthenticated catch-all route"
    );
    for (name, route) in &routes {
        let p = &route["Properties"];
        // AuthorizationType: !If [UseJwt, JWT, AWS_IAM]: never NONE, never absent.
        let auth = tagged(&p["AuthorizationType"], "!If").unwrap_or_else(|| {
            panic!("{name}: AuthorizationType must be !If [UseJwt, JWT, AWS_IAM]")
        });
        assert_eq!(auth.len(), 3, "{name}");
        assert_eq!(auth[0], "UseJwt", "{name}");
        assert_eq!(
            (&auth[1], &auth[2]),
            (&Value::from("JWT"), &Value::from("AWS_IAM")),
            "{name}"
        );
        // With JWT, the route names the JWT authorizer.
        let authorizer = tagged(&p["AuthorizerId"], "!If")
            .unwrap_or_else(|| panic!("{name}: AuthorizerId must follow UseJwt"));
        let mut refs = BTreeSet::new();
        referenced(&authorizer[1], &mut refs);
        assert_eq!(
            refs,
            BTreeSet::from(["JwtAuthorizer".to_string()]),
            "{name}"
        );
    }
    let jwt = &r["JwtAuthorizer"]["Properties"];
    assert_eq!(jwt["AuthorizerType"], "JWT");
    assert_eq!(jwt["IdentitySource"][0], "$request.header.Authorization");
    // The only way in is the API: no function URL, no SAM Api/HttpApi event (which
    // would create routes of its own), and the invoke permissions name this API.
    for (k, v) in r {
        let ty = v["Type"].as_str().unwrap_or_default();
        assert_ne!(ty, "AWS::Lambda::Url", "{k:?}");
        assert!(v["Properties"].get("FunctionUrlConfig").is_none(), "{k:?}");
        if let Some(events) = v["Properties"]["Events"].as_mapping() {
            for (e, ev) in events {
                let et = ev["Type"].as_str().unwrap_or_default();
                assert!(
                    !matches!(et, "Api" | "HttpApi"),
                    "{k:?}.{e:?} is a {et} event"
                );
            }
        }
        if ty == "AWS::Lambda::Permission"
            && v["Properties"]["Principal"] == "apigateway.amazonaws.com"
        {
            let mut refs = BTreeSet::new();
            referenced(&v["Properties"]["SourceArn"], &mut refs);
            assert!(
                refs.contains("HttpApi"),
                "{k:?}: invoke permission not limited to the API"
            );
        }
    }
}

fn api_routes(r: &serde_yaml_ng::Mapping) -> Vec<(&str, &Value)> {
    r.iter()
        .filter(|(_, v)| v["Type"] == "AWS::ApiGatewayV2::Route")
        .map(|(k, v)| (k.as_str().unwrap(), v))
        .collect()
}

fn console_route(route: &Value) -> bool {
    let key = route["Properties"]["RouteKey"].as_str().unwrap();
    key.split(' ').nth(1).unwrap().starts_with("/console")
}

#[test]
fn the_console_is_routed_without_an_authorizer_only_with_an_issuer_and_a_client_id() {
    let t = template();
    let r = resources(&t);
    // UseConsole: !And [!Condition UseJwt, ConsoleClientId not empty].
    let condition = tagged(&t["Conditions"]["UseConsole"], "!And").unwrap();
    match &condition[0] {
        Value::Tagged(c) => {
            assert_eq!(c.tag.to_string(), "!Condition");
            assert_eq!(c.value, "UseJwt", "the console needs the JWT issuer");
        }
        other => panic!("UseConsole must start with !Condition UseJwt: {other:?}"),
    }
    let mut named = BTreeSet::new();
    referenced(&condition[1], &mut named);
    assert_eq!(named, BTreeSet::from(["ConsoleClientId".to_string()]));
    let console: BTreeSet<(String, String)> = api_routes(r)
        .into_iter()
        .filter(|(_, v)| console_route(v))
        .map(|(name, v)| {
            assert_eq!(v["Condition"], "UseConsole", "{name}");
            let p = &v["Properties"];
            // No authorizer: a browser's navigation carries no Authorization header.
            assert_eq!(p["AuthorizationType"], "NONE", "{name}");
            assert!(p.get("AuthorizerId").is_none(), "{name}");
            let mut target = BTreeSet::new();
            referenced(&p["Target"], &mut target);
            assert_eq!(target.len(), 1, "{name}");
            (
                p["RouteKey"].as_str().unwrap().to_string(),
                target.into_iter().next().unwrap(),
            )
        })
        .collect();
    let expect = |k: &str, i: &str| (k.to_string(), i.to_string());
    assert_eq!(
        console,
        BTreeSet::from([
            expect("GET /console", "QueriesIntegration"),
            expect("GET /console/{proxy+}", "QueriesIntegration"),
            expect("POST /console/{proxy+}", "CommandsIntegration"),
        ])
    );
    let functions_of = |integration: &str| {
        let mut f = BTreeSet::new();
        referenced(&r[integration]["Properties"]["IntegrationUri"], &mut f);
        f
    };
    assert_eq!(
        functions_of("QueriesIntegration"),
        BTreeSet::from(["ApiQueriesFunction".to_string()])
    );
    assert_eq!(
        functions_of("CommandsIntegration"),
        BTreeSet::from(["ApiCommandsFunction".to_string()])
    );

    // The session key: a generated secret, its ARN in both functions' environment and
    // theirs alone to read.
    let secret = &r["ConsoleSessionSecret"];
    assert_eq!(secret["Type"], "AWS::SecretsManager::Secret");
    assert_eq!(secret["Condition"], "UseConsole");
    let generated = &secret["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_u64().unwrap() >= 32);
    for (name, f) in functions(&t) {
        let env = &f["Properties"]["Environment"]["Variables"];
        let reads = statements(f).into_iter().any(|s| {
            let mut refs = BTreeSet::new();
            referenced(&s["Resource"], &mut refs);
            refs.contains("ConsoleSessionSecret")
        });
        let api = name == "ApiQueriesFunction" || name == "ApiCommandsFunction";
        assert_eq!(reads, api, "{name}: reads the console's secret");
        assert_eq!(
            env.get("CONSOLE_SESSION_SECRET_ARN").is_some(),
            api,
            "{name}"
        );
        if api {
            let statement = statements(f)
                .into_iter()
                .find(|s| s["Sid"] == "ConsoleSessionKey")
                .unwrap();
            assert_eq!(
                statement["Action"],
                Value::Sequence(vec!["secretsmanager:GetSecretValue".into()])
            );
            for var in [
                "CONSOLE_CLIENT_ID",
                "CONSOLE_SESSION_SECRET_ARN",
                "JWT_ISSUER",
                "JWT_AUDIENCE",
            ] {
                let value = tagged(&env[var], "!If").unwrap_or_else(|| panic!("{name}: {var}"));
                assert_eq!(value[0], "UseConsole", "{name}: {var}");
            }
        }
    }
}

/// The EventBridge pattern of the SES feedback rule, as JSON, with `!Ref
/// SesConfigurationSet` resolved to `configuration_set` (the end-to-end test puts the
/// template's own rule on moto's bus).
pub fn ses_feedback_pattern(configuration_set: &str) -> serde_json::Value {
    fn resolve(v: &Value, set: &str) -> serde_json::Value {
        match v {
            Value::Tagged(t) if t.tag == "Ref" && t.value == "SesConfigurationSet" => {
                serde_json::Value::String(set.to_string())
            }
            Value::Tagged(t) => panic!("unexpected !{} in the pattern", t.tag),
            Value::Sequence(items) => items.iter().map(|i| resolve(i, set)).collect(),
            Value::Mapping(m) => m
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), resolve(v, set)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::String(s) => serde_json::Value::String(s.clone()),
            other => panic!("unexpected {other:?} in the pattern"),
        }
    }
    let t = template();
    resolve(
        &resources(&t)["SesFeedbackRule"]["Properties"]["EventPattern"],
        configuration_set,
    )
}

#[test]
fn ses_bounces_and_complaints_reach_the_delivery_queue_from_the_rule_only() {
    use billrun_aws::ses_events::{BOUNCED, COMPLAINED, SOURCE};
    let t = template();
    let r = resources(&t);
    let pattern = ses_feedback_pattern("billrun");
    assert_eq!(pattern["source"], serde_json::json!([SOURCE]));
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!([BOUNCED, COMPLAINED])
    );
    assert_eq!(
        pattern["detail"]["mail"]["tags"]["ses:configuration-set"],
        serde_json::json!(["billrun"]),
        "only the emails of billrun's configuration set"
    );
    let rule = &r["SesFeedbackRule"];
    let targets = rule["Properties"]["Targets"].as_sequence().unwrap();
    assert_eq!(targets.len(), 1);
    let mut refs = BTreeSet::new();
    referenced(&targets[0]["Arn"], &mut refs);
    assert_eq!(refs, BTreeSet::from(["DeliveryQueue".to_string()]));
    let mut dlq = BTreeSet::new();
    referenced(&targets[0]["DeadLetterConfig"]["Arn"], &mut dlq);
    assert_eq!(dlq, BTreeSet::from(["DeliveryDeadLetterQueue".to_string()]));

    // The bounces and complaints of the configuration set go to the default bus.
    let destination = &r["SesFeedbackDestination"]["Properties"]["EventDestination"];
    let types: BTreeSet<&str> = destination["MatchingEventTypes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(types, BTreeSet::from(["bounce", "complaint"]));
    // EventBridge may send to the delivery queue (and its DLQ) for this rule only.
    let statements = r["DeliveryQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(s["Action"], "sqs:SendMessage");
    let mut source = BTreeSet::new();
    referenced(&s["Condition"]["ArnEquals"]["aws:SourceArn"], &mut source);
    assert_eq!(source, BTreeSet::from(["SesFeedbackRule".to_string()]));
    for name in [
        "SesFeedbackDestination",
        "SesFeedbackRule",
        "DeliveryQueuePolicy",
    ] {
        assert_eq!(r[name]["Condition"], "HasConfigurationSet", "{name}");
    }
}
