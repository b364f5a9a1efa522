-- Issue 10, who may do what.

-- Signed machine requests (HMAC, api/auth/signatures.py): each nonce is accepted once per key
-- within the 5-minute window; a replay hits the primary key and is refused. Rows past their
-- expiry are deleted as new ones arrive.
CREATE TABLE request_nonces (
    key_id text NOT NULL,
    nonce text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_expiry_idx ON request_nonces (expires_at);

-- Maker-checker: the approvals recorded on an unfreeze request that needs two different
-- approvers (Wallet.UnfreezeApprovalRecorded), by log position for as-of reads. A table of
-- the commissions view, which may have been rebuilt into a schema of its own: create it
-- wherever its unfreeze requests live. No event of that kind exists yet, so it starts empty.
DO $$
DECLARE
    live text;
BEGIN
    FOR live IN
        SELECT table_schema FROM information_schema.tables WHERE table_name = 'unfreeze_requests'
    LOOP
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I.unfreeze_approvals ('
            ' request_id text NOT NULL,'
            ' position bigint NOT NULL,'
            ' approver text NOT NULL,'
            ' actor text NOT NULL,'
            ' approved_at timestamptz NOT NULL,'
            ' PRIMARY KEY (request_id, position))',
            live
        );
    END LOOP;
END
$$;
