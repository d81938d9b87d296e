//! How the state machine's tasks reach the simulated AWS: `lambda:invoke` runs the real
//! handler (as Lambda would, with its error names), `sns:publish` and the
//! `modifyListener` integration go to the simulator.

#[allow(unused_imports)]
use super::*;

pub(super) struct SimDispatcher {
    pub(super) sim: Sim,
    pub(super) settings: Settings,
}

pub(super) fn lambda_error(e: PortError) -> TaskError {
    let name = match e {
        PortError::Throttled { .. } => "Lambda.TooManyRequestsException",
        _ => "Lambda.ServiceException",
    };
    TaskError::new(name, e.to_string())
}

pub(super) fn failure(f: Failure) -> TaskError {
    TaskError::new(
        f.name,
        json!({"errorType": f.name, "errorMessage": f.message}).to_string(),
    )
}

/// Runs a handler as the Lambda function `function` does (`greenlight_lambda::dispatch`),
/// its AWS calls recorded as that function's.
pub(super) async fn run_as<Req, Resp, F, Fut>(
    function: &str,
    handler: F,
    sim: Sim,
    settings: Settings,
    payload: Value,
) -> Result<Value, Failure>
where
    Req: DeserializeOwned,
    Resp: Serialize + Send + 'static,
    F: Fn(Sim, Settings, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, Failure>> + Send + 'static,
{
    // `dispatch` runs the handler on a task of its own, which does not inherit the name of
    // the function: the handler's future carries it.
    let function = function.to_string();
    let named = move |sim, settings, req| {
        greenlight_sim::CURRENT_FUNCTION.scope(function.clone(), handler(sim, settings, req))
    };
    greenlight_lambda::dispatch(named, sim, settings, payload).await
}

/// Runs a handler exactly as the Lambda function does (`greenlight_lambda::dispatch`: the
/// same decoding, the same error names), wrapped as Step Functions' `lambda:invoke` result.
pub(super) async fn invoke<Req, Resp, F, Fut>(
    payload: Value,
    handler: F,
    sim: Sim,
    settings: Settings,
) -> Result<Value, TaskError>
where
    Req: DeserializeOwned,
    Resp: Serialize + Send + 'static,
    F: Fn(Sim, Settings, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, Failure>> + Send + 'static,
{
    let function = greenlight_sim::CURRENT_FUNCTION
        .try_with(Clone::clone)
        .unwrap_or_default();
    let out = run_as(&function, handler, sim, settings, payload)
        .await
        .map_err(failure)?;
    Ok(json!({"Payload": out, "StatusCode": 200}))
}

/// How Step Functions names an SNS error of its `sns:publish` integration.
pub(super) fn sns_error(e: PortError) -> TaskError {
    let name = match &e {
        PortError::Throttled { .. } => "SNS.ThrottledException",
        PortError::AccessDenied { .. } => "SNS.AuthorizationErrorException",
        PortError::NotFound { .. } => "SNS.NotFoundException",
        PortError::Invalid { .. } => "SNS.InvalidParameterException",
        _ => "SNS.InternalErrorException",
    };
    TaskError::new(name, e.to_string())
}

/// The `sns:publish` integration: greenlight's rendered notices (`MessageStructure: json`)
/// and the plain-text ones the state machine builds itself.
pub(super) async fn publish(sim: &Sim, input: &Value) -> Result<Value, TaskError> {
    let invalid = |m: String| TaskError::new("SNS.InvalidParameterException", m);
    let topic = Arn::parse(input["TopicArn"].as_str().unwrap_or_default()).map_err(invalid)?;
    let text = input["Message"].as_str().unwrap_or_default();
    let n: Notification = if input["MessageStructure"] == "json" {
        let message: Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("Message: {e}")))?;
        serde_json::from_str(message["sqs"].as_str().unwrap_or_default())
            .map_err(|e| invalid(format!("Message.sqs: {e}")))?
    } else {
        let attr = |k: &str| {
            input["MessageAttributes"][k]["StringValue"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let kind = serde_json::from_value(json!(attr("event")))
            .map_err(|e| invalid(format!("MessageAttributes.event: {e}")))?;
        let mut n = Notification::new(kind, &attr("app"), &attr("environment"), sim.now());
        n.severity = serde_json::from_value(json!(attr("severity")))
            .map_err(|e| invalid(format!("MessageAttributes.severity: {e}")))?;
        n.reason = Some(text.to_string());
        n
    };
    let id = sim.publish(&topic, &n).await.map_err(sns_error)?;
    Ok(json!({"MessageId": id}))
}

/// The `aws-sdk:elasticloadbalancingv2:modifyListener` and `modifyRule` integrations, for a
/// forward action.
pub(super) async fn modify_listener(sim: &Sim, input: &Value) -> Result<Value, TaskError> {
    let invalid = |m: String| TaskError::new("ElasticLoadBalancingV2.ValidationErrorException", m);
    let (arn, actions) = match input.get("RuleArn") {
        Some(rule) => (rule, &input["Actions"]),
        None => (&input["ListenerArn"], &input["DefaultActions"]),
    };
    let listener = Arn::parse(arn.as_str().unwrap_or_default()).map_err(invalid)?;
    let groups = actions[0]["ForwardConfig"]["TargetGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut weights = Vec::new();
    for g in groups {
        weights.push(greenlight_core::ports::TargetWeight {
            target_group: Arn::parse(g["TargetGroupArn"].as_str().unwrap_or_default())
                .map_err(invalid)?,
            weight: g["Weight"].as_u64().unwrap_or(1).min(100) as u8,
        });
    }
    greenlight_core::ports::LoadBalancer::set_listener_weights(sim, &listener, &weights)
        .await
        .map_err(|e| {
            let name = match &e {
                PortError::Throttled { .. } => "ElasticLoadBalancingV2.ThrottlingException",
                PortError::AccessDenied { .. } => "ElasticLoadBalancingV2.AccessDeniedException",
                PortError::NotFound { .. } => "ElasticLoadBalancingV2.ListenerNotFoundException",
                _ => "States.TaskFailed",
            };
            TaskError::new(name, e.to_string())
        })?;
    Ok(json!({}))
}

impl Dispatcher for SimDispatcher {
    fn sequence(&self) -> u64 {
        self.sim.world().next_seq()
    }

    fn state_entered(&self, execution: &str, state: &str) {
        let sink = {
            let w = self.sim.world();
            match (&w.kill_at, &w.stop_sink) {
                (Some(at), Some(sink)) if at == state => Some(sink.clone()),
                _ => None,
            }
        };
        if let Some(sink) = sink {
            sink(
                execution,
                "Simulation.Killed",
                &format!("stopped as it entered {state}"),
            );
        }
    }

    fn call<'a>(
        &'a self,
        resource: &'a str,
        mut input: Value,
        _token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let (sim, s) = (self.sim.clone(), self.settings.clone());
            match resource {
                "arn:aws:states:::lambda:invoke"
                | "arn:aws:states:::lambda:invoke.waitForTaskToken" => {
                    let function = input["FunctionName"]
                        .as_str()
                        .unwrap_or_default()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    // A timeout whose invocation landed: the function runs, its answer
                    // is lost, and Step Functions sees the invocation fail.
                    let lost = {
                        let mut w = sim.world();
                        greenlight_sim::CURRENT_FUNCTION.sync_scope("state-machine".into(), || {
                            w.note_access("lambda:InvokeFunction")
                        });
                        w.call(&format!("lambda:Invoke/{function}"))
                            .map_err(lambda_error)?;
                        w.lost_reply.take()
                    };
                    let payload = input["Payload"].take();
                    let name = function.trim_start_matches("greenlight-").to_string();
                    let result = as_function(&name, async move {
                        match function.as_str() {
                            "greenlight-prepare" => {
                                invoke(payload, handlers::prepare, sim, s).await
                            }
                            "greenlight-deploy" => invoke(payload, handlers::deploy, sim, s).await,
                            "greenlight-check" => invoke(payload, handlers::check, sim, s).await,
                            "greenlight-await" => {
                                invoke(payload, handlers::await_token, sim, s).await
                            }
                            "greenlight-shift" => invoke(payload, handlers::shift, sim, s).await,
                            "greenlight-finalize" => {
                                invoke(payload, handlers::finalize, sim, s).await
                            }
                            "greenlight-retire" => invoke(payload, handlers::retire, sim, s).await,
                            "greenlight-rollback" => {
                                invoke(payload, handlers::rollback, sim, s).await
                            }
                            "greenlight-notify" => invoke(payload, handlers::notify, sim, s).await,
                            other => Err(TaskError::new(
                                "Lambda.ResourceNotFoundException",
                                format!("no function {other}"),
                            )),
                        }
                    })
                    .await;
                    match lost {
                        Some(e) if result.is_ok() => Err(lambda_error(e)),
                        _ => result,
                    }
                }
                "arn:aws:states:::sns:publish" => {
                    as_function("state-machine", publish(&sim, &input)).await
                }
                "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener"
                | "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyRule" => {
                    as_function("state-machine", modify_listener(&sim, &input)).await
                }
                other => Err(TaskError::new(
                    "States.TaskFailed",
                    format!("the simulator does not run {other}"),
                )),
            }
        })
    }
}
