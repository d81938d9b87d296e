//! Choice rules: comparisons, And/Or/Not, and the `Is*` tests.

#[allow(unused_imports)]
use super::*;

pub(super) const COMPARISONS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

pub(super) fn rule(v: &Value, loc: &str, top: bool) -> Result<Rule, LoadError> {
    let m = v.as_object().ok_or_else(|| LoadError {
        location: loc.into(),
        message: "must be an object".into(),
    })?;
    for k in m.keys() {
        let known = ["And", "Or", "Not", "Variable", "Comment"].contains(&k.as_str())
            || (top && k == "Next")
            || COMPARISONS.contains(&k.as_str())
            || COMPARISONS.iter().any(|c| k == &format!("{c}Path"));
        if !known {
            return err(
                format!("{loc}.{k}"),
                format!("field `{k}` is not supported in a choice rule"),
            );
        }
    }
    if let Some(list) = m.get("And").or(m.get("Or")) {
        let rules = list
            .as_array()
            .ok_or_else(|| LoadError {
                location: loc.into(),
                message: "And/Or take an array".into(),
            })?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                rule(
                    r,
                    &format!(
                        "{loc}.{}[{i}]",
                        if m.contains_key("And") { "And" } else { "Or" }
                    ),
                    false,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if m.contains_key("And") {
            Rule::And(rules)
        } else {
            Rule::Or(rules)
        });
    }
    if let Some(inner) = m.get("Not") {
        return Ok(Rule::Not(Box::new(rule(
            inner,
            &format!("{loc}.Not"),
            false,
        )?)));
    }
    let variable = path_field(m, "Variable", loc)?.ok_or_else(|| LoadError {
        location: format!("{loc}.Variable"),
        message: "required".into(),
    })?;
    let (op, raw) = m
        .iter()
        .find(|(k, _)| !["Variable", "Next", "Comment"].contains(&k.as_str()))
        .ok_or_else(|| LoadError {
            location: loc.into(),
            message: "a comparison is required".into(),
        })?;
    let (op, operand) = match op.strip_suffix("Path") {
        Some(base) if COMPARISONS.contains(&base) => {
            let s = raw.as_str().ok_or_else(|| LoadError {
                location: format!("{loc}.{op}"),
                message: "must be a path".into(),
            })?;
            (
                base.to_string(),
                Operand::Path(Path::parse(s).map_err(|m| LoadError {
                    location: format!("{loc}.{op}"),
                    message: m,
                })?),
            )
        }
        _ => (op.clone(), Operand::Value(raw.clone())),
    };
    Ok(Rule::Compare {
        variable,
        op,
        operand,
    })
}
