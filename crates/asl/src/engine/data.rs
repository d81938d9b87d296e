//! Input and output processing: Parameters and ResultSelector templates (with the
//! context object and intrinsic functions), paths, ResultPath merging.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// ResultSelector: shapes a result, or passes it through when there is none.
    pub(super) fn select(
        &self,
        selector: &Option<Value>,
        result: Value,
        ctx: &Ctx,
    ) -> Result<Value, TaskError> {
        match selector {
            Some(sel) => self.template(sel, &result, ctx),
            None => Ok(result),
        }
    }

    pub(super) fn template(&self, t: &Value, input: &Value, ctx: &Ctx) -> Result<Value, TaskError> {
        self.template_in(t, input, ctx, None)
    }

    /// Evaluates Parameters, minting a task token when the template asks for `$$.Task.Token`.
    pub(super) fn template_with_token(
        &self,
        t: &Value,
        input: &Value,
        ctx: &Ctx,
        resource: &str,
    ) -> Result<(Value, Option<String>), TaskError> {
        let token = resource.ends_with(".waitForTaskToken").then(|| {
            let mut s = self.shared();
            s.next_token += 1;
            format!(
                "tok-{}-{}",
                ctx.execution["Name"].as_str().unwrap_or("x"),
                s.next_token
            )
        });
        let value = self.eval_template(t, input, ctx, None, token.as_deref())?;
        Ok((value, token))
    }

    pub(super) fn template_in(
        &self,
        t: &Value,
        input: &Value,
        ctx: &Ctx,
        item: Option<&Value>,
    ) -> Result<Value, TaskError> {
        self.eval_template(t, input, ctx, item, None)
    }

    pub(super) fn eval_template(
        &self,
        t: &Value,
        input: &Value,
        ctx: &Ctx,
        item: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Value, TaskError> {
        let context = {
            let mut c = json!({
                "Execution": *ctx.execution,
                "StateMachine": *ctx.state_machine,
                "State": {
                    "EnteredTime": self.now().to_rfc3339(),
                    "Name": ctx.state,
                    "RetryCount": ctx.retries.load(std::sync::atomic::Ordering::Relaxed),
                },
            });
            if let Some(t) = token {
                c["Task"] = json!({"Token": t});
            }
            if let Some(i) = item.or(ctx.map_item.as_ref()) {
                c["Map"] = json!({"Item": i});
            }
            c
        };
        let lookup = |p: &Path| -> Result<Value, String> {
            let root = if p.context { &context } else { input };
            p.get(root).ok_or_else(|| {
                format!(
                    "the JSONPath {} could not be found in the {}",
                    display(p),
                    if p.context { "context object" } else { "input" }
                )
            })
        };
        fn walk(
            v: &Value,
            lookup: &dyn Fn(&Path) -> Result<Value, String>,
            uuid: &mut dyn FnMut() -> String,
        ) -> Result<Value, String> {
            match v {
                Value::Object(m) => {
                    let mut out = Map::new();
                    for (k, x) in m {
                        if let Some(key) = k.strip_suffix(".$") {
                            let s = x.as_str().unwrap_or_default();
                            let value = if s.starts_with('$') {
                                lookup(&Path::parse(s)?)?
                            } else {
                                intrinsics::eval(&intrinsics::parse(s)?, lookup, uuid)?
                            };
                            out.insert(key.to_string(), value);
                        } else {
                            out.insert(k.clone(), walk(x, lookup, uuid)?);
                        }
                    }
                    Ok(Value::Object(out))
                }
                Value::Array(a) => a
                    .iter()
                    .map(|x| walk(x, lookup, uuid))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                other => Ok(other.clone()),
            }
        }
        let mut uuid = || {
            let a = (self.random() * u64::MAX as f64) as u64;
            let b = (self.random() * u64::MAX as f64) as u64;
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                b >> 52,
                b & 0xffff_ffff_ffff
            )
        };
        walk(t, &lookup, &mut uuid).map_err(TaskError::runtime)
    }
}
