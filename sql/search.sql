-- pm_search over 100,000 prompts: the GIN indexes answer it (the function
-- is inlined, so EXPLAIN shows the plan of its query).
INSERT INTO pm_prompts (prompt_id, content, metadata, category)
SELECT 'search/' || g,
	format('Prompt %s about %s for %s customers.', g,
		(ARRAY['billing', 'shipping', 'refunds', 'onboarding', 'security'])[g % 5 + 1],
		(ARRAY['new', 'returning', 'enterprise'])[g % 3 + 1])
		|| CASE WHEN g % 10000 = 0 THEN ' Mentions the zebra escalation.' ELSE '' END,
	jsonb_build_object('team', 'team-' || (g % 50), 'tier', g % 4)
		|| CASE WHEN g % 10000 = 5 THEN '{"owner": "zebra-desk"}'::jsonb ELSE '{}' END,
	(ARRAY['support', 'sales', 'ops'])[g % 3 + 1]
FROM generate_series(1, 100000) g;
ANALYZE pm_prompts;

SELECT prompt_id, prompt_category FROM pm_search('zebra escalation') ORDER BY prompt_id;
SELECT count(*) FROM pm_search(metadata => '{"team": "team-7", "tier": 3}', max_results => 1000);
SELECT prompt_id FROM pm_search(metadata => '{"owner": "zebra-desk"}') ORDER BY prompt_id;
SELECT prompt_id FROM pm_search('billing', '{"owner": "zebra-desk"}', 'ops');

EXPLAIN (COSTS OFF) SELECT * FROM pm_search('zebra escalation');
EXPLAIN (COSTS OFF) SELECT * FROM pm_search(metadata => '{"owner": "zebra-desk"}');
EXPLAIN (COSTS OFF) SELECT * FROM pm_search('billing', '{"owner": "zebra-desk"}', 'ops');

-- pm_get is inlined too: a primary key lookup
EXPLAIN (COSTS OFF) SELECT * FROM pm_get('search/42');

DELETE FROM pm_prompts;
