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

diesel::allow_tables_to_appear_in_same_query!(users, interviews, favorite_interviews);
