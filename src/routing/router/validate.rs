//! Input validation: every check a call makes before it mutates anything, so a rejected call
//! leaves the router unchanged.

use super::*;

impl<P: Scoring> Router<P> {
    pub(super) fn check_time(&self, now: Time) -> Result<(), RouterError> {
        if now < self.now {
            Err(RouterError::TimeWentBackwards {
                last: self.now,
                now,
            })
        } else {
            Ok(())
        }
    }

    pub(super) fn check_skill(&self, skill: crate::SkillId) -> Result<(), RouterError> {
        if (skill.0 as usize) < self.catalog.skill_count() {
            Ok(())
        } else {
            Err(RouterError::UnknownName {
                kind: "skill",
                id: skill.0,
            })
        }
    }
    pub(super) fn check_tag(&self, tag: TagId) -> Result<(), RouterError> {
        if (tag.0 as usize) < self.catalog.tag_count() {
            Ok(())
        } else {
            Err(RouterError::UnknownName {
                kind: "tag",
                id: tag.0,
            })
        }
    }
    pub(super) fn check_tenant(&self, tenant: TenantId) -> Result<(), RouterError> {
        if (tenant.0 as usize) < self.catalog.tenant_count() {
            Ok(())
        } else {
            Err(RouterError::UnknownName {
                kind: "tenant",
                id: tenant.0,
            })
        }
    }
    pub(super) fn check_level(level: u8) -> Result<(), RouterError> {
        if (1..=MAX_LEVEL).contains(&level) {
            Ok(())
        } else {
            Err(RouterError::InvalidLevel {
                level,
                max: MAX_LEVEL,
            })
        }
    }
    pub(super) fn check_number(field: &'static str, value: f64) -> Result<(), RouterError> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(RouterError::InvalidNumber { field, value })
        }
    }

    pub(super) fn check_agent_spec(&self, spec: &AgentSpec) -> Result<(), RouterError> {
        if spec.capacity.is_zero() {
            return Err(RouterError::ZeroCapacity(spec.id));
        }
        for &(s, l) in &spec.skills {
            self.check_skill(s)?;
            Self::check_level(l)?;
        }
        for &t in &spec.tags {
            self.check_tag(t)?;
        }
        for &t in &spec.certifications {
            self.check_tenant(t)?;
        }
        Ok(())
    }

    pub(super) fn check_requirements(&self, r: &Requirements) -> Result<(), RouterError> {
        for req in &r.skills {
            self.check_skill(req.skill)?;
            Self::check_level(req.min_level)?;
        }
        for &t in &r.tags {
            self.check_tag(t)?;
        }
        Ok(())
    }

    pub(super) fn check_preferences(&self, p: &Preferences) -> Result<(), RouterError> {
        for &(s, w) in &p.skills {
            self.check_skill(s)?;
            Self::check_number("preferences.skills weight", w)?;
        }
        for &(t, w) in &p.tags {
            self.check_tag(t)?;
            Self::check_number("preferences.tags weight", w)?;
        }
        Ok(())
    }

    pub(super) fn check_customer(
        customer: &CustomerProfile,
        priority: &Priority,
    ) -> Result<(), RouterError> {
        Self::check_number("customer.sentiment", customer.sentiment)?;
        if !(-1.0..=1.0).contains(&customer.sentiment) {
            return Err(RouterError::InvalidNumber {
                field: "customer.sentiment (must be in [-1, 1])",
                value: customer.sentiment,
            });
        }
        Self::check_number("priority.base", priority.base)
    }

    pub(super) fn task_view<'a>(&self, t: &'a TaskRec, reqs: &'a Requirements) -> TaskView<'a> {
        TaskView {
            tenant: t.tenant,
            channel: t.channel,
            requirements: reqs,
            preferences: t.preferences.as_deref().unwrap_or(&NO_PREFERENCES),
            customer: t.customer(),
            priority: t.priority(),
            sla_ms: t.sla_ms,
        }
    }

    pub(super) fn task_score(&self, t: &TaskRec, reqs: &Requirements) -> f64 {
        self.scoring
            .task_score(&self.task_view(t, reqs), &self.cfg.priority)
    }

    pub(super) fn make_key(
        &self,
        score: f64,
        created_at: Time,
        sla_ms: u64,
        class: u8,
        seq: u64,
    ) -> Result<OrderKey, RouterError> {
        if !score.is_finite() {
            return Err(RouterError::InvalidNumber {
                field: "task score (from Scoring::task_score)",
                value: score,
            });
        }
        let key = self
            .cfg
            .priority
            .key(score, created_at.as_secs_f64(), sla_secs(sla_ms));
        OrderKey::new(class, key, seq).ok_or(RouterError::InvalidNumber {
            field: "priority key",
            value: key,
        })
    }
}
