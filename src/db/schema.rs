//! The one schema both backends share. Kept by hand: `diesel print-schema`
//! would emit backend-specific types, and ids are `BigInt` on both.

diesel::table! {
    users (id) {
        id -> BigInt,
        subject -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    interviews (id) {
        id -> BigInt,
        author_id -> BigInt,
        title -> Text,
        company -> Text,
        position -> Text,
        body -> Text,
        favorites_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    favorite_interviews (user_id, interview_id) {
        user_id -> BigInt,
        interview_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::joinable!(interviews -> users (author_id));
diesel::joinable!(favorite_interviews -> users (user_id));
diesel::joinable!(favorite_interviews -> interviews (interview_id));

diesel::table! {
    teams (id) {
        id -> BigInt,
        name -> Text,
        created_by -> Nullable<BigInt>,
        members_count -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    team_memberships (id) {
        id -> BigInt,
        team_id -> BigInt,
        user_id -> BigInt,
        inviter_id -> Nullable<BigInt>,
        joined_date -> Date,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(teams -> users (created_by));
diesel::joinable!(team_memberships -> teams (team_id));

diesel::allow_tables_to_appear_in_same_query!(
    teams,
    team_memberships,
    users,
    interviews,
    favorite_interviews,
    idempotency_keys
);

diesel::table! {
    idempotency_keys (user_id, idempotency_key) {
        user_id -> BigInt,
        idempotency_key -> Text,
        fingerprint -> Text,
        claim -> Text,
        claimed_at -> Timestamp,
        status -> Nullable<Integer>,
        location -> Nullable<Text>,
        body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(idempotency_keys -> users (user_id));
