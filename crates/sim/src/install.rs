//! Building the simulated AWS side of a greenlight configuration.

use greenlight_core::config::{Colour, Config, Environment};
use greenlight_core::ports::{StoredConfig, TargetWeight};
use greenlight_core::Digest;

use crate::world::{Alarm, AlarmSource, Listener, Service, World, ACCOUNT, REGION};
use crate::Behaviour;

impl World {
    /// Builds the AWS side of every environment in `config`: services (blue live at
    /// `desired` tasks running `initial`, green idle), target groups, listeners (production
    /// all on blue, test on green), alarms on the production listener's 5xx rate, and the
    /// repository; and stores the configuration.
    pub fn install(&mut self, config: &Config, initial: &Digest, desired: u32) {
        let long_ago = self.now - chrono::Duration::hours(24);
        for (app_name, app) in &config.apps {
            self.install_places(app);
            self.push_image(
                &app.repository,
                Some("initial"),
                initial,
                Behaviour::healthy(),
            );
            for env in app.environments.values() {
                let place = env.place();
                let here = place.as_ref().map_or((ACCOUNT, REGION), |p| {
                    (p.account.as_str(), p.region.as_str())
                });
                // A replica in the environment's registry, else the stack's registry.
                let uri = self
                    .repos
                    .get(&crate::accounts::repo_key(here, &app.repository))
                    .unwrap_or(&self.repos[&app.repository])
                    .uri
                    .clone();
                let family = format!("{app_name}-{}", env.cluster);
                let td = self.register_task_def_in(
                    here,
                    &family,
                    vec![
                        (app.container.clone(), format!("{uri}@{initial}")),
                        (
                            "log-router".into(),
                            "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable".into(),
                        ),
                    ],
                );
                for colour in [Colour::Blue, Colour::Green] {
                    let key = (env.cluster.clone(), env.services.get(colour).clone());
                    self.accounts
                        .own(&crate::accounts::service_key(&key.0, &key.1), here);
                    self.services.insert(
                        key.clone(),
                        Service {
                            cluster: env.cluster.clone(),
                            name: key.1.clone(),
                            task_definition: td.clone(),
                            desired: if colour == Colour::Blue { desired } else { 0 },
                            updated_at: long_ago,
                        },
                    );
                    if let Some(tgs) = &env.target_groups {
                        self.target_groups.insert(tgs.get(colour).clone(), key);
                    }
                }
                self.install_listeners(env);
                // A `url` probe's host is the environment's public name: it resolves to the
                // production listener.
                for probe in &env.checks.probes {
                    if let Some(host) = probe
                        .url
                        .as_deref()
                        .and_then(|u| u.split_once("://"))
                        .map(|(_, r)| r.split(['/', ':']).next().unwrap_or(r).to_string())
                    {
                        if let Some(l) = &env.listeners {
                            self.dns.insert(host, l.production.clone());
                        }
                    }
                }
                let source = match &env.listeners {
                    Some(l) => AlarmSource::Listener(l.production.clone()),
                    None => AlarmSource::Tasks(
                        env.cluster.clone(),
                        env.services.blue.clone(),
                        env.services.green.clone(),
                    ),
                };
                for alarm in &env.checks.alarms {
                    self.accounts.own(&format!("alarm:{alarm}"), here);
                    self.alarms.insert(
                        alarm.clone(),
                        Alarm {
                            source: source.clone(),
                            threshold: 0.05,
                            forced: None,
                        },
                    );
                }
            }
        }
        self.store.config = Some(StoredConfig {
            config: std::sync::Arc::new(config.clone()),
            version: 1,
            updated_at: self.now,
            updated_by: "sim".into(),
            source: None,
        });
    }

    fn install_listeners(&mut self, env: &Environment) {
        let Some(lb) = env.load_balancer() else {
            return;
        };
        let lb_name = lb
            .listeners
            .production
            .parts()
            .ok()
            .map_or("lb", |p| p.resource.split('/').nth(2).unwrap_or("lb"))
            .to_string();
        let dns = format!("{lb_name}-1234567890.{REGION}.elb.amazonaws.com");
        self.listeners.insert(
            lb.listeners.production.clone(),
            Listener {
                production: true,
                dns_name: dns.clone(),
                port: 443,
                scheme: "https".into(),
                weights: vec![
                    TargetWeight {
                        target_group: lb.target_groups.blue.clone(),
                        weight: 100,
                    },
                    TargetWeight {
                        target_group: lb.target_groups.green.clone(),
                        weight: 0,
                    },
                ],
            },
        );
        if let Some(test) = &lb.listeners.test {
            self.listeners.insert(
                test.clone(),
                Listener {
                    production: false,
                    dns_name: dns,
                    port: 8443,
                    scheme: "https".into(),
                    weights: vec![TargetWeight {
                        target_group: lb.target_groups.green.clone(),
                        weight: 100,
                    }],
                },
            );
        }
    }
}
