//! Who may do what, once per resource: small pure functions over the facts
//! a rule needs. The repository calls them inside the write transaction
//! that locked those facts, so a decision never rests on rows that changed.

/// Why a write was refused, in the SPEC's order: something named in the
/// path is missing (404), or the caller may not do this (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Missing { what: &'static str, id: i64 },
    Denied(String),
}

impl Refusal {
    pub fn missing(what: &'static str, id: i64) -> Refusal {
        Refusal::Missing { what, id }
    }
}

/// Only an interview's author may edit or delete it.
pub fn may_change_interview(
    interview_id: i64,
    author_id: i64,
    caller_id: i64,
) -> Result<(), Refusal> {
    if caller_id == author_id {
        Ok(())
    } else {
        Err(Refusal::Denied(format!(
            "only the author may change interview {interview_id}"
        )))
    }
}

/// A team's creator and its members may add members. A team whose
/// creator's account was deleted (`creator_id` `None`) is its members' alone.
pub fn may_add_member(
    team_id: i64,
    creator_id: Option<i64>,
    caller_id: i64,
    caller_is_member: bool,
) -> Result<(), Refusal> {
    if creator_id == Some(caller_id) || caller_is_member {
        Ok(())
    } else {
        Err(Refusal::Denied(format!(
            "only a member or the creator of team {team_id} may do this"
        )))
    }
}

/// A member may leave; the team's creator may remove anyone. Without a
/// creator (their account was deleted) only the member themself may.
pub fn may_remove_member(
    team_id: i64,
    creator_id: Option<i64>,
    member_id: i64,
    caller_id: i64,
) -> Result<(), Refusal> {
    if caller_id == member_id || creator_id == Some(caller_id) {
        Ok(())
    } else {
        Err(Refusal::Denied(format!(
            "only the member themself or the creator of team {team_id} may do this"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interview_rules() {
        assert_eq!(may_change_interview(7, 1, 1), Ok(()));
        assert!(matches!(
            may_change_interview(7, 1, 2),
            Err(Refusal::Denied(_))
        ));
    }

    #[test]
    fn membership_rules() {
        assert_eq!(may_add_member(3, Some(1), 1, false), Ok(()));
        assert_eq!(may_add_member(3, Some(1), 2, true), Ok(()));
        assert!(may_add_member(3, Some(1), 2, false).is_err());
        assert_eq!(may_remove_member(3, Some(1), 2, 2), Ok(()));
        assert_eq!(may_remove_member(3, Some(1), 2, 1), Ok(()));
        assert!(may_remove_member(3, Some(1), 2, 4).is_err());
    }

    #[test]
    fn a_team_without_its_creator_is_its_members() {
        assert_eq!(may_add_member(3, None, 2, true), Ok(()));
        assert!(may_add_member(3, None, 2, false).is_err());
        assert_eq!(may_remove_member(3, None, 2, 2), Ok(()));
        assert!(may_remove_member(3, None, 2, 4).is_err());
    }
}
