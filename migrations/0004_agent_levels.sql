-- Agents' levels (grades) over time: as of position P is the greatest position <= P.
CREATE TABLE agent_levels (
    agent_code text NOT NULL,
    position bigint NOT NULL,
    level_code text NOT NULL,
    PRIMARY KEY (agent_code, position)
);
