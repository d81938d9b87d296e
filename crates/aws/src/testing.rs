//! A moto server on a free loopback port, shared by the tests of one binary, and helpers
//! that create the AWS resources a test needs. The server stops when the test process ends
//! (a watchdog shell kills it when its parent is gone).

pub mod runtime_api;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use greenlight_core::Arn;

use crate::AwsCloud;

pub struct Moto {
    pub endpoint: String,
}

fn moto_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("GREENLIGHT_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(".venv/bin/moto_server")
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let bin = moto_server_binary();
        assert!(
            bin.exists(),
            "moto_server not found at {}: run ./scripts/test (it installs moto into .venv) or set GREENLIGHT_MOTO_SERVER",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // The watchdog shell outlives this call on purpose: it stops moto when the test
        // process ends, and is reaped with it.
        #[allow(clippy::zombie_processes)]
        let _watchdog = Command::new("bash")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!; while kill -0 $PPID 2>/dev/null; do sleep 0.5; done; kill $m"#)
            .arg(&bin)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 60s");
            std::thread::sleep(Duration::from_millis(200));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    })
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto().endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

pub async fn cloud(table: &str) -> AwsCloud {
    AwsCloud::new(&sdk_config().await, table)
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Calls a Query-protocol API (EC2, SQS) that the project has no SDK crate for; moto routes
/// by the credential scope in the (unchecked) signature.
pub async fn query(service: &str, params: &[(&str, &str)]) -> String {
    query_as("testing", "us-east-1", service, params).await
}

/// [`query`] as the holder of `access_key` (moto knows the account of the keys it handed
/// out for an assumed role) in `region`.
pub async fn query_as(
    access_key: &str,
    region: &str,
    service: &str,
    params: &[(&str, &str)],
) -> String {
    let auth = format!("AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0");
    let response = crate::http_client()
        .build()
        .unwrap()
        .post(&moto().endpoint)
        .header("Authorization", auth)
        .form(params)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(
        status.is_success(),
        "{service} {params:?}: {status}: {body}"
    );
    body
}

/// The text of the first `<tag>…</tag>` in an XML answer.
pub fn xml(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        + open.len();
    let end = body[start..].find(&format!("</{tag}>")).unwrap() + start;
    body[start..end].to_string()
}

/// A VPC with two subnets, for load balancers.
pub async fn vpc() -> (String, Vec<String>) {
    vpc_as("testing", "us-east-1").await
}

/// [`vpc`] in the account of `access_key` and in `region`.
pub async fn vpc_as(access_key: &str, region: &str) -> (String, Vec<String>) {
    let v = query_as(
        access_key,
        region,
        "ec2",
        &[
            ("Action", "CreateVpc"),
            ("Version", "2016-11-15"),
            ("CidrBlock", "10.0.0.0/16"),
        ],
    )
    .await;
    let vpc = xml(&v, "vpcId");
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.0.1.0/24", "a"), ("10.0.2.0/24", "b")] {
        let az = format!("{region}{az}");
        let s = query_as(
            access_key,
            region,
            "ec2",
            &[
                ("Action", "CreateSubnet"),
                ("Version", "2016-11-15"),
                ("VpcId", &vpc),
                ("CidrBlock", cidr),
                ("AvailabilityZone", &az),
            ],
        )
        .await;
        subnets.push(xml(&s, "subnetId"));
    }
    (vpc, subnets)
}

/// Creates the state table as template.yaml defines it.
pub async fn table(cloud: &AwsCloud) {
    use aws_sdk_dynamodb::types::*;
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    cloud
        .dynamodb
        .create_table()
        .table_name(&cloud.table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("gsi1pk"))
        .attribute_definitions(attr("gsi1sk"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(crate::HISTORY_INDEX)
                .key_schema(key("gsi1pk", KeyType::Hash))
                .key_schema(key("gsi1sk", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// A load balancer with a blue and a green target group and a listener forwarding all
/// traffic to blue: (listener, blue, green).
pub async fn blue_green_listener(c: &AwsCloud) -> (Arn, Arn, Arn) {
    blue_green_listener_as(c, "testing", "us-east-1").await
}

/// [`blue_green_listener`] with `c`'s load balancer client, its subnets made in the account
/// of `access_key` and in `region` (where `c` makes its calls).
pub async fn blue_green_listener_as(
    c: &AwsCloud,
    access_key: &str,
    region: &str,
) -> (Arn, Arn, Arn) {
    use aws_sdk_elasticloadbalancingv2::types::*;
    let (vpc, subnets) = vpc_as(access_key, region).await;
    let lb = c
        .elb
        .create_load_balancer()
        .name(unique("lb"))
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let mut tgs = Vec::new();
    for colour in ["blue", "green"] {
        let tg = c
            .elb
            .create_target_group()
            .name(unique(colour))
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .vpc_id(&vpc)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap();
        tgs.push(Arn::parse(tg.target_groups()[0].target_group_arn().unwrap()).unwrap());
    }
    let l = c
        .elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tgs[0].as_str())
                .build(),
        )
        .send()
        .await
        .unwrap();
    (
        Arn::parse(l.listeners()[0].listener_arn().unwrap()).unwrap(),
        tgs[0].clone(),
        tgs[1].clone(),
    )
}
