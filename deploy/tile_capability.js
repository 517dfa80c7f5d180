// Chemical Earth: nginx's check of a restricted layer's tile capability (njs, Debian's
// libnginx-mod-http-js), the same as portal/tile_capabilities.py: the URL
// /tiles/c/<key>/<expires>/<signature>/<z>/<x>/<y>.png opens layer <key> until <expires> (epoch
// seconds) when <signature> is base64url(HMAC-SHA256(TILE_CAPABILITY_SECRET, "<key>/<expires>")).
// nginx.conf keeps TILE_CAPABILITY_SECRET in the environment (`env`) and captures the parts.
const crypto = require('crypto');

function digest(text) {
    return crypto.createHash('sha256').update(text).digest('base64url');
}

function allowed(r) {
    const v = r.variables;
    const secret = process.env.TILE_CAPABILITY_SECRET;
    if (!secret || !(Number(v.tile_expires) >= Date.now() / 1000)) {
        return '0';
    }
    const expected = crypto.createHmac('sha256', secret)
        .update(v.tile_key + '/' + v.tile_expires).digest('base64url');
    // Compare digests of the two, so the time taken says nothing about how much of it matched.
    return digest(expected) === digest(v.tile_signature) ? '1' : '0';
}

export default { allowed };
