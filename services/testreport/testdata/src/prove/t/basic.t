use Test::More tests => 4;
ok(1, 'first passes');
ok(0, 'second fails');
SKIP: { skip "no network", 1; ok(1, 'network'); }
TODO: { local $TODO = "later"; ok(0, 'todo item'); }
