//! A strategy becomes a plan: the list of traffic weights a rollout sets, and how long it
//! holds each one while the checks run.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Canary, Linear, StepSpec, Strategy};
use crate::duration::Duration;

/// One traffic step: `weight` percent on the new colour, held for `bake`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanStep {
    pub weight: u8,
    pub bake: Duration,
}

/// The steps of a rollout. Weights strictly increase and the last is 100.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Invalid(String),
}

impl Plan {
    /// Time from the first traffic shift until the last step's bake ends.
    pub fn total_bake(&self) -> Duration {
        self.steps
            .iter()
            .fold(Duration::ZERO, |t, s| t.saturating_add(s.bake))
    }
}

impl Strategy {
    /// The CodeDeploy preset this is, or the preset's meaning spelled out.
    fn expanded(&self) -> Strategy {
        let m = Duration::from_mins;
        match self {
            Strategy::EcsAllAtOnce => Strategy::AllAtOnce,
            Strategy::EcsCanary10Percent5Minutes => Strategy::Canary(Canary {
                percent: 10,
                bake: m(5),
            }),
            Strategy::EcsCanary10Percent15Minutes => Strategy::Canary(Canary {
                percent: 10,
                bake: m(15),
            }),
            Strategy::EcsLinear10PercentEvery1Minutes => Strategy::Linear(Linear {
                step: 10,
                interval: m(1),
            }),
            Strategy::EcsLinear10PercentEvery3Minutes => Strategy::Linear(Linear {
                step: 10,
                interval: m(3),
            }),
            other => other.clone(),
        }
    }

    /// The concrete steps. Fails only for parameters that validation refuses.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let invalid = |m: String| Err(PlanError::Invalid(m));
        let steps = match self.expanded() {
            Strategy::AllAtOnce => vec![PlanStep {
                weight: 100,
                bake: Duration::ZERO,
            }],
            Strategy::Canary(Canary { percent, bake }) => {
                if !(1..=99).contains(&percent) {
                    return invalid(format!("canary percent {percent} is not 1 to 99"));
                }
                vec![
                    PlanStep {
                        weight: percent,
                        bake,
                    },
                    PlanStep {
                        weight: 100,
                        bake: Duration::ZERO,
                    },
                ]
            }
            Strategy::Linear(Linear { step, interval }) => {
                if !(1..=99).contains(&step) {
                    return invalid(format!("linear step {step} is not 1 to 99"));
                }
                let mut steps = Vec::new();
                let mut weight = step;
                while weight < 100 {
                    steps.push(PlanStep {
                        weight,
                        bake: interval,
                    });
                    weight = weight.saturating_add(step);
                }
                steps.push(PlanStep {
                    weight: 100,
                    bake: Duration::ZERO,
                });
                steps
            }
            Strategy::Steps(specs) => {
                let steps: Vec<PlanStep> = specs
                    .iter()
                    .map(|StepSpec { weight, bake }| PlanStep {
                        weight: *weight,
                        bake: *bake,
                    })
                    .collect();
                if steps.last().map(|s| s.weight) != Some(100) {
                    return invalid("the last step must have weight 100".into());
                }
                if steps.windows(2).any(|w| w[0].weight >= w[1].weight) || steps[0].weight == 0 {
                    return invalid("step weights must strictly increase from at least 1".into());
                }
                steps
            }
            preset => unreachable!("{preset:?} is expanded above"),
        };
        Ok(Plan { steps })
    }

    /// How long the strategy says the traffic shift takes (first shift to the end of the
    /// last bake), computed from its parameters rather than from the plan.
    pub fn promised_duration(&self) -> Duration {
        match self.expanded() {
            Strategy::AllAtOnce => Duration::ZERO,
            Strategy::Canary(c) => c.bake,
            Strategy::Linear(l) => {
                let steps = 100u64.div_ceil(u64::from(l.step.max(1)));
                Duration::from_secs(l.interval.as_secs() * (steps - 1))
            }
            Strategy::Steps(s) => s
                .iter()
                .fold(Duration::ZERO, |t, s| t.saturating_add(s.bake)),
            _ => unreachable!(),
        }
    }

    /// A one-line description, e.g. `canary 10% for 5m, then 100%`.
    pub fn describe(&self) -> String {
        let name = match self {
            Strategy::EcsAllAtOnce => Some("CodeDeployDefault.ECSAllAtOnce"),
            Strategy::EcsCanary10Percent5Minutes => {
                Some("CodeDeployDefault.ECSCanary10Percent5Minutes")
            }
            Strategy::EcsCanary10Percent15Minutes => {
                Some("CodeDeployDefault.ECSCanary10Percent15Minutes")
            }
            Strategy::EcsLinear10PercentEvery1Minutes => {
                Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes")
            }
            Strategy::EcsLinear10PercentEvery3Minutes => {
                Some("CodeDeployDefault.ECSLinear10PercentEvery3Minutes")
            }
            _ => None,
        };
        let body = match self.expanded() {
            Strategy::AllAtOnce => "all at once".to_string(),
            Strategy::Canary(c) => format!("canary {}% for {}, then 100%", c.percent, c.bake),
            Strategy::Linear(l) => format!("linear +{}% every {} up to 100%", l.step, l.interval),
            Strategy::Steps(s) => {
                let parts: Vec<String> = s
                    .iter()
                    .map(|s| format!("{}% for {}", s.weight, s.bake))
                    .collect();
                format!("steps {}", parts.join(", "))
            }
            _ => unreachable!(),
        };
        match name {
            Some(n) => format!("{n} ({body})"),
            None => body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assert_eq, prop_oneof, proptest, Just};
    use proptest::strategy::Strategy as _;

    fn weights(p: &Plan) -> Vec<u8> {
        p.steps.iter().map(|s| s.weight).collect()
    }

    #[test]
    fn presets_have_codedeploy_semantics() {
        let canary = Strategy::EcsCanary10Percent5Minutes.plan().unwrap();
        assert_eq!(weights(&canary), [10, 100]);
        assert_eq!(canary.total_bake(), Duration::from_mins(5));
        assert_eq!(
            Strategy::EcsCanary10Percent15Minutes
                .plan()
                .unwrap()
                .total_bake(),
            Duration::from_mins(15)
        );
        let linear = Strategy::EcsLinear10PercentEvery1Minutes.plan().unwrap();
        assert_eq!(weights(&linear), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(linear.total_bake(), Duration::from_mins(9));
        assert_eq!(
            Strategy::EcsLinear10PercentEvery3Minutes
                .plan()
                .unwrap()
                .total_bake(),
            Duration::from_mins(27)
        );
        assert_eq!(weights(&Strategy::EcsAllAtOnce.plan().unwrap()), [100]);
    }

    #[test]
    fn linear_steps_that_do_not_divide_100_end_at_100() {
        let p = Strategy::Linear(Linear {
            step: 30,
            interval: Duration::from_mins(2),
        })
        .plan()
        .unwrap();
        assert_eq!(weights(&p), [30, 60, 90, 100]);
        assert_eq!(p.total_bake(), Duration::from_mins(6));
    }

    #[test]
    fn invalid_parameters_are_refused_not_planned() {
        assert!(Strategy::Canary(Canary {
            percent: 0,
            bake: Duration::from_mins(1)
        })
        .plan()
        .is_err());
        assert!(Strategy::Linear(Linear {
            step: 100,
            interval: Duration::from_mins(1)
        })
        .plan()
        .is_err());
        assert!(Strategy::Steps(vec![StepSpec {
            weight: 50,
            bake: Duration::ZERO
        }])
        .plan()
        .is_err());
        let down = vec![
            StepSpec {
                weight: 50,
                bake: Duration::ZERO,
            },
            StepSpec {
                weight: 40,
                bake: Duration::ZERO,
            },
            StepSpec {
                weight: 100,
                bake: Duration::ZERO,
            },
        ];
        assert!(Strategy::Steps(down).plan().is_err());
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            Strategy::EcsCanary10Percent5Minutes.describe(),
            "CodeDeployDefault.ECSCanary10Percent5Minutes (canary 10% for 5m, then 100%)"
        );
        assert_eq!(Strategy::AllAtOnce.describe(), "all at once");
    }

    fn any_valid_strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
        let bake = (0u64..7200).prop_map(Duration::from_secs);
        prop_oneof![
            Just(Strategy::AllAtOnce),
            Just(Strategy::EcsAllAtOnce),
            Just(Strategy::EcsCanary10Percent5Minutes),
            Just(Strategy::EcsCanary10Percent15Minutes),
            Just(Strategy::EcsLinear10PercentEvery1Minutes),
            Just(Strategy::EcsLinear10PercentEvery3Minutes),
            (1u8..=99, bake.clone())
                .prop_map(|(percent, bake)| Strategy::Canary(Canary { percent, bake })),
            (1u8..=99, bake.clone())
                .prop_map(|(step, interval)| Strategy::Linear(Linear { step, interval })),
            (
                proptest::collection::btree_set(1u8..100, 0..8),
                proptest::collection::vec(bake, 9)
            )
                .prop_map(|(ws, bakes)| {
                    let mut steps: Vec<StepSpec> = ws
                        .into_iter()
                        .zip(bakes.iter())
                        .map(|(weight, bake)| StepSpec {
                            weight,
                            bake: *bake,
                        })
                        .collect();
                    steps.push(StepSpec {
                        weight: 100,
                        bake: bakes[8],
                    });
                    Strategy::Steps(steps)
                }),
        ]
    }

    proptest! {
        #[test]
        fn every_plan_increases_to_100_in_the_promised_time(strategy in any_valid_strategy()) {
            let plan = strategy.plan().unwrap();
            prop_assert!(!plan.steps.is_empty());
            prop_assert!(plan.steps.windows(2).all(|w| w[0].weight < w[1].weight), "{:?}", plan);
            prop_assert!(plan.steps[0].weight >= 1);
            prop_assert_eq!(plan.steps.last().unwrap().weight, 100);
            prop_assert_eq!(plan.total_bake(), strategy.promised_duration());
        }
    }
}
