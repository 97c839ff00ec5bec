"""Rules written the way the public `auth0/rules` gallery templates are (github.com/auth0/rules,
`src/rules/<name>.js`): each constant restates one template's logic with the same Rules API
surface (a leading comment, a named or anonymous function expression, `auth0.users` promises
chained with `.then`/`.catch`, `context.idToken`/`accessToken`, `UnauthorizedError`), and is
checked against the effects the template's upstream test (`test/rules/<name>.test.js`) expects.
"""

ADD_PERSISTENCE_ATTRIBUTE = """/**
 * Restates add-persistence-attribute: a default colour in user_metadata, and a claim of it.
 */

function (user, context, callback) {
  user.user_metadata = user.user_metadata || {};
  user.user_metadata.color = user.user_metadata.color || 'blue';
  context.idToken['https://example.com/favorite_color'] = user.user_metadata.color;

  auth0.users.updateUserMetadata(user.user_id, user.user_metadata)
    .then(function () {
      callback(null, user, context);
    })
    .catch(function (err) {
      callback(err);
    });
}
"""

ROLES_CREATION = """/**
 * Restates roles-creation: verified users get roles from their email's domain.
 */

function (user, context, callback) {
  if (!user.email || !user.email_verified) {
    return callback(null, user, context);
  }
  user.app_metadata = user.app_metadata || {};
  const rolesFor = function (someone) {
    const domain = '@example.com';
    return someone.email.slice(-domain.length) === domain ? ['admin'] : ['user'];
  };
  user.app_metadata.roles = rolesFor(user);
  auth0.users.updateAppMetadata(user.user_id, user.app_metadata)
    .then(function () {
      context.idToken['https://example.com/roles'] = user.app_metadata.roles;
      callback(null, user, context);
    })
    .catch(function (err) {
      callback(err);
    });
}
"""

USERNAME_ATTRIBUTE = """/**
 * Restates username-attribute: the username kept in app_metadata, once.
 */

function usernameAttribute(user, context, callback) {
  user.app_metadata = user.app_metadata || {};
  if (user.app_metadata.username) return callback(null, user, context);
  user.app_metadata.username = user.app_metadata.username || user.username;
  auth0.users
    .updateAppMetadata(user.user_id, user.app_metadata)
    .then(function () {
      callback(null, user, context);
    })
    .catch(function (err) {
      callback(err);
    });
}
"""

TRACK_CONSENT = """/**
 * Restates track-consent: when the user first consented, in user_metadata, once.
 */

function trackConsent(user, context, callback) {
  user.user_metadata = user.user_metadata || {};
  if (user.user_metadata.consentGiven) return callback(null, user, context);
  user.user_metadata.consentGiven = true;
  user.user_metadata.consentTimestamp = Date.now();
  auth0.users
    .updateUserMetadata(user.user_id, user.user_metadata)
    .then(function () {
      callback(null, user, context);
    })
    .catch(function (err) {
      callback(err);
    });
}
"""

EMAIL_VERIFIED = """/**
 * Restates email-verified: only users with a verified email log in.
 */

function emailVerified(user, context, callback) {
  if (!user.email_verified) {
    return callback(new UnauthorizedError('Please verify your email before logging in.'));
  } else {
    return callback(null, user, context);
  }
}
"""

ADD_EMAIL_TO_ACCESS_TOKEN = """/**
 * Restates add-email-to-access-token: the user's email as a namespaced access token claim.
 */

function addEmailToAccessToken(user, context, callback) {
  var namespace = 'https://example.com/';
  context.accessToken[namespace + 'email'] = user.email;
  return callback(null, user, context);
}
"""
