//! `Alarms` on Amazon CloudWatch.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use greenlight_core::ports::{AlarmState, AlarmValue, Alarms, PortResult};

use crate::error::classify;
use crate::AwsCloud;

/// DescribeAlarms takes at most 100 names per call.
const NAMES_PER_CALL: usize = 100;

fn value(v: Option<&StateValue>) -> AlarmValue {
    match v {
        Some(StateValue::Alarm) => AlarmValue::Alarm,
        Some(StateValue::Ok) => AlarmValue::Ok,
        _ => AlarmValue::InsufficientData,
    }
}

impl Alarms for AwsCloud {
    async fn alarm_states(&self, names: &[String]) -> PortResult<Vec<AlarmState>> {
        const OP: &str = "cloudwatch:DescribeAlarms";
        let mut out = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut pages = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify(OP, e))?;
                for a in page.metric_alarms() {
                    out.push(AlarmState {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        value: value(a.state_value()),
                        reason: a.state_reason().map(str::to_string),
                    });
                }
                for a in page.composite_alarms() {
                    out.push(AlarmState {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        value: value(a.state_value()),
                        reason: a.state_reason().map(str::to_string),
                    });
                }
            }
        }
        Ok(out)
    }
}
