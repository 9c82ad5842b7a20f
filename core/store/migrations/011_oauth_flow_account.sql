-- The TikTok for Business account that answered an authorization (display name and the e-mail TikTok
-- returns masked, from user/info/), so a refusal can name it and the wizard can say which account
-- TikTok will probably offer next time (it remembers the last login).
ALTER TABLE oauth_flows ADD COLUMN tiktok_account VARCHAR;
