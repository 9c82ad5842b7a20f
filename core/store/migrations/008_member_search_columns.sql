-- Lower-cased text the Members page filters and sorts on, written by the member sync with each row so a
-- page view does not run lower()/split_part() over every member: the member's display name (the name, or
-- the e-mail without one), the e-mail, and the e-mail's domain (the personal-e-mail flag compares it with
-- the configured domain list, which is a setting and so is not stored).

ALTER TABLE members ADD COLUMN member_lower VARCHAR;  -- lower(coalesce(user_name, user_email))
ALTER TABLE members ADD COLUMN email_lower VARCHAR;   -- lower(user_email)
ALTER TABLE members ADD COLUMN email_domain VARCHAR;  -- split_part(lower(user_email), '@', 2)

UPDATE members SET member_lower = lower(coalesce(user_name, user_email)), email_lower = lower(user_email),
                   email_domain = split_part(lower(user_email), '@', 2);
