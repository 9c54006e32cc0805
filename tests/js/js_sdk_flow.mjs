// matrix-js-sdk (the SDK under Element Web) against a running mxmod, driven by
// tests/it/js_sdk.rs: `node js_sdk_flow.mjs http://127.0.0.1:PORT`.
//
// Two clients register, `startClient()` and reach PREPARED, create and join a room,
// exchange messages seen through their own sync, see the server's notification counts,
// read and change push rules and read capabilities; then typing and a read receipt reach
// the other client, and one client redacts a message, kicks, bans and unbans the other.
// Every request the SDK makes goes through a logging fetch; a request answered
// 404 M_UNRECOGNIZED (an endpoint the server lacks) fails the run. The script prints
// `js-sdk flow: ok` last on success and exits non-zero on any failure.

import * as sdk from "matrix-js-sdk";

const baseUrl = process.argv[2];
if (!baseUrl) {
    console.error("usage: node js_sdk_flow.mjs BASE_URL");
    process.exit(2);
}
// Each wait is bounded, so a missing event fails the run instead of hanging it.
const WAIT_MS = 20_000;
const unrecognized = [];

/** A fetch that logs each request the SDK makes and remembers unknown endpoints. */
function loggingFetch(who) {
    return async (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const method = init?.method ?? "GET";
        const response = await fetch(input, init);
        const line = `${who} ${method} ${url.pathname} -> ${response.status}`;
        console.log(line);
        if (response.status === 404) {
            const body = await response.clone().text();
            if (body.includes("M_UNRECOGNIZED")) {
                unrecognized.push(line);
            }
        }
        return response;
    };
}

/** Resolves when `check()` holds, re-checking on each `event` of `emitter`; rejects after WAIT_MS. */
function until(emitter, event, check, what) {
    return new Promise((resolve, reject) => {
        if (check()) {
            resolve();
            return;
        }
        const timer = setTimeout(() => {
            emitter.removeListener(event, listener);
            reject(new Error(`timed out waiting for ${what}`));
        }, WAIT_MS);
        function listener() {
            if (check()) {
                clearTimeout(timer);
                emitter.removeListener(event, listener);
                resolve();
            }
        }
        emitter.on(event, listener);
    });
}

function assert(condition, message) {
    if (!condition) {
        throw new Error(`assertion failed: ${message}`);
    }
}

/** Registers `username` (m.login.dummy) and returns a logged-in client, not started. */
async function register(username) {
    const anonymous = sdk.createClient({ baseUrl, fetchFn: loggingFetch(username) });
    const answer = await anonymous.registerRequest({
        username,
        password: `${username}-password`,
        auth: { type: "m.login.dummy" },
    });
    return sdk.createClient({
        baseUrl,
        accessToken: answer.access_token,
        userId: answer.user_id,
        deviceId: answer.device_id,
        fetchFn: loggingFetch(username),
    });
}

/** Starts a client and waits for the PREPARED sync state. */
async function start(client) {
    const prepared = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${client.getUserId()} never reached PREPARED`)), WAIT_MS);
        client.on(sdk.ClientEvent.Sync, (state, _previous, data) => {
            if (state === "PREPARED") {
                clearTimeout(timer);
                resolve();
            } else if (state === "ERROR") {
                clearTimeout(timer);
                reject(new Error(`${client.getUserId()} sync failed: ${data?.error}`));
            }
        });
    });
    await client.startClient({ initialSyncLimit: 10 });
    await prepared;
}

/** The bodies of the messages in a room's live timeline, as a client's sync delivered them. */
function bodies(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) {
        return [];
    }
    return room
        .getLiveTimeline()
        .getEvents()
        .filter((event) => event.getType() === "m.room.message")
        .map((event) => event.getContent().body);
}

async function main() {
    const suffix = Date.now().toString(36);
    const alice = await register(`alice${suffix}`);
    const bob = await register(`bob${suffix}`);
    await start(alice);
    await start(bob);
    console.log("both clients PREPARED");

    // Push rules: the server-default set, as the SDK reads it at start-up.
    const rules = await alice.getPushRules();
    const overrideIds = rules.global.override.map((rule) => rule.rule_id);
    assert(overrideIds.includes(".m.rule.master"), `override rules: ${overrideIds}`);
    assert(
        rules.global.underride.some((rule) => rule.rule_id === ".m.rule.message"),
        "the .m.rule.message underride rule",
    );
    await alice.setPushRuleEnabled("global", "override", ".m.rule.suppress_notices", false);
    const changed = await alice.getPushRules();
    const suppress = changed.global.override.find((rule) => rule.rule_id === ".m.rule.suppress_notices");
    assert(suppress && suppress.enabled === false, "the rule was disabled");

    // Capabilities.
    const capabilities = await alice.getCapabilities();
    assert(capabilities["m.room_versions"]?.default === "10", `capabilities: ${JSON.stringify(capabilities)}`);
    assert(capabilities["m.change_password"]?.enabled === true, "m.change_password");

    // A room, an invite seen through bob's sync, a join.
    const { room_id: roomId } = await alice.createRoom({ name: "js-sdk room", invite: [bob.getUserId()] });
    await until(bob, sdk.ClientEvent.Room, () => bob.getRoom(roomId) !== null, "bob's invite");
    await bob.joinRoom(roomId);
    await until(
        alice,
        sdk.RoomStateEvent.Members,
        () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join",
        "alice seeing bob join",
    );

    // Messages both ways, each seen through the other client's sync.
    await alice.sendTextMessage(roomId, "hello from alice");
    await until(bob, sdk.RoomEvent.Timeline, () => bodies(bob, roomId).includes("hello from alice"), "alice's message");
    // Notification counts from the server's push rules: a message notifies, one that
    // names bob also highlights.
    const bobLocalpart = bob.getUserId().slice(1).split(":")[0];
    await alice.sendTextMessage(roomId, `are you there, ${bobLocalpart}?`);
    const count = (type) => bob.getRoom(roomId)?.getUnreadNotificationCount(type) ?? 0;
    await until(
        bob,
        sdk.RoomEvent.Timeline,
        () => count(sdk.NotificationCountType.Total) >= 2 && count(sdk.NotificationCountType.Highlight) >= 1,
        "bob's unread notification counts",
    );
    await bob.sendTextMessage(roomId, "hello from bob");
    await until(alice, sdk.RoomEvent.Timeline, () => bodies(alice, roomId).includes("hello from bob"), "bob's message");
    console.log("messages exchanged");

    // Typing: bob starts typing, alice's client sees it through her sync.
    await bob.sendTyping(roomId, true, 30000);
    const bobTyping = () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.typing === true;
    await until(alice, sdk.RoomMemberEvent.Typing, bobTyping, "bob typing, seen by alice");
    console.log("typing seen");

    // A read receipt: alice sends a message, bob reads it (a receipt on the newest event:
    // the SDK keeps only a receipt later than the one it already has for bob, and bob's
    // own message counts as read); alice's client sees bob's receipt.
    const { event_id: toRead } = await alice.sendTextMessage(roomId, "please read this");
    await until(bob, sdk.RoomEvent.Timeline, () => bob.getRoom(roomId)?.findEventById(toRead) !== undefined, "the message to read");
    await bob.sendReadReceipt(bob.getRoom(roomId).findEventById(toRead));
    const bobRead = () => alice.getRoom(roomId)?.getEventReadUpTo(bob.getUserId()) === toRead;
    await until(alice, sdk.RoomEvent.Receipt, bobRead, "bob's read receipt, seen by alice");
    console.log("read receipt seen");

    // A redaction: alice redacts a message; bob's copy loses its content.
    const { event_id: doomed } = await alice.sendTextMessage(roomId, "this will be redacted");
    await until(bob, sdk.RoomEvent.Timeline, () => bodies(bob, roomId).includes("this will be redacted"), "the doomed message");
    await alice.redactEvent(roomId, doomed);
    const redacted = () => bob.getRoom(roomId)?.findEventById(doomed)?.isRedacted() === true;
    await until(bob, sdk.RoomEvent.Redaction, redacted, "the redaction, seen by bob");
    assert(!bodies(bob, roomId).includes("this will be redacted"), "the redacted body is gone from bob's timeline");
    console.log("redaction seen");

    // Moderation: alice kicks bob, bob comes back, alice bans and unbans him.
    const membershipOfBob = () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership;
    await alice.kick(roomId, bob.getUserId(), "kicked by the js-sdk test");
    await until(alice, sdk.RoomStateEvent.Members, () => membershipOfBob() === "leave", "bob kicked");
    await until(bob, sdk.RoomEvent.MyMembership, () => bob.getRoom(roomId)?.getMyMembership() === "leave", "bob seeing his kick");
    // The room is invite-only: alice invites bob back before he can join again.
    await alice.invite(roomId, bob.getUserId());
    await until(bob, sdk.RoomEvent.MyMembership, () => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob invited again");
    await bob.joinRoom(roomId);
    await until(alice, sdk.RoomStateEvent.Members, () => membershipOfBob() === "join", "bob back");
    await alice.ban(roomId, bob.getUserId(), "banned by the js-sdk test");
    await until(alice, sdk.RoomStateEvent.Members, () => membershipOfBob() === "ban", "bob banned");
    await alice.unban(roomId, bob.getUserId());
    await until(alice, sdk.RoomStateEvent.Members, () => membershipOfBob() === "leave", "bob unbanned");
    console.log("kick, ban and unban done");


    alice.stopClient();
    bob.stopClient();
    assert(unrecognized.length === 0, `endpoints the server does not know:\n${unrecognized.join("\n")}`);
    console.log("js-sdk flow: ok");
}

main().then(
    () => process.exit(0),
    (error) => {
        console.error(`js-sdk flow failed: ${error?.stack ?? error}`);
        if (unrecognized.length > 0) {
            console.error(`endpoints the server does not know:\n${unrecognized.join("\n")}`);
        }
        process.exit(1);
    },
);
