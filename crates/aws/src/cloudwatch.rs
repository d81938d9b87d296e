//! `Alarms` and `Metrics` on Amazon CloudWatch.

use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, StateValue,
};
use chrono::{DateTime, Utc};
use greenlight_core::ports::{AlarmState, AlarmValue, Alarms, MetricQuery, Metrics, PortResult};

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

/// GetMetricData takes at most 500 queries per call.
const QUERIES_PER_CALL: usize = 500;

impl Metrics for AwsCloud {
    /// One `GetMetricData` call per 500 queries, each query one period covering the range
    /// from the first whole minute at or after `start` (whole minutes), so each answers with
    /// one datapoint, or two when CloudWatch aligns the period differently: a `Sum` or
    /// `SampleCount` adds them, any other statistic averages them.
    async fn metric_values(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> PortResult<Vec<Option<f64>>> {
        const OP: &str = "cloudwatch:GetMetricData";
        // From the first whole minute at or after `start`: no datapoint of the minute
        // before (the previous weight's traffic) leaks into the range.
        let from = start.timestamp() + (60 - start.timestamp().rem_euclid(60)) % 60;
        let span = (end.timestamp() - from).max(60);
        let period = i32::try_from((span + 59) / 60 * 60).unwrap_or(i32::MAX / 60 * 60);
        // Per query: the sum of its datapoints and how many there were.
        let mut found: Vec<(f64, usize)> = vec![(0.0, 0); queries.len()];
        for (c, chunk) in queries.chunks(QUERIES_PER_CALL).enumerate() {
            let mut call = self
                .cloudwatch
                .get_metric_data()
                .start_time(aws_smithy_types::DateTime::from_secs(from))
                .end_time(aws_smithy_types::DateTime::from_secs(
                    end.timestamp().max(from + 60),
                ));
            for (i, q) in chunk.iter().enumerate() {
                let metric = Metric::builder()
                    .namespace(&q.namespace)
                    .metric_name(&q.metric_name)
                    .set_dimensions(Some(
                        q.dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                            .collect(),
                    ))
                    .build();
                call = call.metric_data_queries(
                    MetricDataQuery::builder()
                        .id(format!("q{}", c * QUERIES_PER_CALL + i))
                        .metric_stat(
                            MetricStat::builder()
                                .metric(metric)
                                .period(period)
                                .stat(&q.statistic)
                                .build(),
                        )
                        .return_data(true)
                        .build(),
                );
            }
            let mut pages = call.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify(OP, e))?;
                for result in page.metric_data_results() {
                    let index = result
                        .id()
                        .and_then(|id| id.strip_prefix('q'))
                        .and_then(|n| n.parse::<usize>().ok());
                    if let Some(slot) = index.and_then(|i| found.get_mut(i)) {
                        slot.0 += result.values().iter().sum::<f64>();
                        slot.1 += result.values().len();
                    }
                }
            }
        }
        Ok(queries
            .iter()
            .zip(found)
            .map(|(q, (sum, count))| match count {
                0 => None,
                _ if matches!(q.statistic.as_str(), "Sum" | "SampleCount") => Some(sum),
                _ => Some(sum / count as f64),
            })
            .collect())
    }
}
