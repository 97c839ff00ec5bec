// The runtime tenant code sees: Auth0's Rules globals (auth0, configuration, global,
// UnauthorizedError, require, console) and the Actions `event`/`api`, built on no host function.
// Every effect (a metadata write, an HTTP request) is queued in `outbox` as a record; the host
// drains it between job batches and settles each record's promise through __ml.deliver.
(function (root) {
  'use strict';

  // Kept before any tenant code runs: code that replaces JSON harms only its own results.
  var stringify = JSON.stringify;
  var parse = JSON.parse;

  class UnauthorizedError extends Error {
    constructor(message) {
      super(message);
      this.name = 'UnauthorizedError';
      this.statusCode = 401;
    }
  }

  // The errors a custom-database script answers with, as on Auth0.
  class WrongUsernameOrPasswordError extends Error {
    constructor(email, message) {
      super(message || 'Wrong email or password.');
      this.name = 'WrongUsernameOrPasswordError';
      this.email = email;
    }
  }

  class ValidationError extends Error {
    constructor(code, message) {
      super(message || code);
      this.name = 'ValidationError';
      this.code = code;
    }
  }

  var state = null; // the run in progress
  var outbox = [];
  var waiting = new Map(); // effect id -> {resolve, reject}
  var nextEffect = 1;
  var modules = new Map(); // name -> factory(module, exports, require)
  var loaded = new Map(); // name -> exports, once required
  var rules = [];
  var actions = [];

  function effect(kind, payload) {
    if (state === null) {
      return Promise.reject(new Error('no login is running'));
    }
    var source = state.source;
    return new Promise(function (resolve, reject) {
      var id = nextEffect++;
      waiting.set(id, {resolve: resolve, reject: reject});
      outbox.push({id: id, kind: kind, source: source, payload: payload});
    });
  }

  function plain(value) {
    // What the host can store: JSON, with `undefined` and functions dropped.
    return value === undefined ? null : parse(stringify(value));
  }

  // --- Rules globals -------------------------------------------------------------------

  function metadataWriter(bucket) {
    return function (userId, metadata) {
      return effect('metadata', {bucket: bucket, user_id: String(userId), patch: plain(metadata)});
    };
  }

  var auth0 = {
    users: {
      updateUserMetadata: metadataWriter('user_metadata'),
      updateAppMetadata: metadataWriter('app_metadata'),
    },
  };

  function httpRequest(options) {
    return effect('http', {
      method: String(options.method || 'GET').toUpperCase(),
      url: String(options.url),
      headers: plain(options.headers || {}),
      body: options.body === undefined ? null : options.body,
    });
  }

  function encodeBody(options) {
    if (options.json !== undefined && options.json !== true) {
      return {body: stringify(options.json), type: 'application/json'};
    }
    if (options.form !== undefined) {
      var pairs = Object.keys(options.form).map(function (key) {
        return encodeURIComponent(key) + '=' + encodeURIComponent(options.form[key]);
      });
      return {body: pairs.join('&'), type: 'application/x-www-form-urlencoded'};
    }
    return {body: options.body, type: undefined};
  }

  function parseBody(text, wantJson) {
    if (!wantJson) return text;
    try {
      return parse(text);
    } catch (e) {
      return text;
    }
  }

  // The `request` module's callback form: request(options, cb), request.get/post/....
  function request(options, callback) {
    if (typeof options === 'string') options = {url: options};
    options = Object.assign({}, options, {url: options.url || options.uri});
    var encoded = encodeBody(options);
    var headers = Object.assign({}, options.headers || {});
    if (encoded.type && !headers['content-type']) headers['content-type'] = encoded.type;
    var wantJson = options.json !== undefined;
    httpRequest({method: options.method, url: options.url, headers: headers, body: encoded.body})
      .then(function (response) {
        var body = parseBody(response.body, wantJson);
        var incoming = {statusCode: response.status, headers: response.headers, body: body};
        callback(null, incoming, body);
      })
      .catch(function (error) {
        callback(error);
      });
  }
  ['get', 'post', 'put', 'patch', 'delete', 'head'].forEach(function (method) {
    request[method] = function (options, callback) {
      if (typeof options === 'string') options = {url: options};
      return request(Object.assign({}, options, {method: method}), callback);
    };
  });
  request.del = request.delete;

  // fetch, as far as rules use it: status, ok, headers, text() and json().
  function fetch(url, init) {
    init = init || {};
    return httpRequest({method: init.method, url: url, headers: init.headers, body: init.body})
      .then(function (response) {
        return {
          status: response.status,
          ok: response.status >= 200 && response.status < 300,
          headers: {get: function (name) { return response.headers[name.toLowerCase()] || null; }},
          text: function () { return Promise.resolve(response.body); },
          json: function () { return Promise.resolve(parse(response.body)); },
        };
      });
  }

  // axios: a promise of {status, data, headers}, rejected on a non-2xx status as axios does.
  function axios(config) {
    var headers = Object.assign({}, config.headers || {});
    var body = config.data;
    if (body !== undefined && typeof body !== 'string') {
      body = stringify(body);
      if (!headers['content-type']) headers['content-type'] = 'application/json';
    }
    return httpRequest({method: config.method, url: config.url, headers: headers, body: body})
      .then(function (response) {
        var answer = {status: response.status, headers: response.headers,
          data: parseBody(response.body, true)};
        if (response.status < 200 || response.status >= 300) {
          var error = new Error('Request failed with status code ' + response.status);
          error.response = answer;
          throw error;
        }
        return answer;
      });
  }
  ['get', 'delete', 'head'].forEach(function (method) {
    axios[method] = function (url, config) {
      return axios(Object.assign({}, config || {}, {method: method, url: url}));
    };
  });
  ['post', 'put', 'patch'].forEach(function (method) {
    axios[method] = function (url, data, config) {
      return axios(Object.assign({}, config || {}, {method: method, url: url, data: data}));
    };
  });

  // uuid's v4 from bytes the host draws for each run (the engine has no source of its own).
  var randomBytes = [];
  function uuidv4() {
    var bytes = [];
    for (var i = 0; i < 16; i++) {
      bytes.push(randomBytes.length ? randomBytes.pop() : Math.floor(Math.random() * 256));
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = bytes.map(function (b) { return (b + 0x100).toString(16).slice(1); }).join('');
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20),
      hex.slice(20)].join('-');
  }

  // A settled promise handed to a node-style callback when one is given, else returned.
  function settle(promise, callback) {
    if (typeof callback !== 'function') return promise;
    promise.then(function (value) { callback(null, value); }, function (error) { callback(error); });
    return undefined;
  }

  // `pg`, as custom-database scripts use it: each query is an effect the host runs with psycopg
  // on a DSN of the connection's configuration.
  function dsnOf(config) {
    if (typeof config === 'string') return config;
    if (config && typeof config.connectionString === 'string') return config.connectionString;
    throw new Error('pg: pass the connection string, e.g. new Client(configuration.DSN)');
  }

  class PgClient {
    constructor(config) {
      this.dsn = dsnOf(config);
    }
    connect(callback) {
      var done = Promise.resolve();
      if (typeof callback === 'function') {
        done.then(function () { callback(null); });
        return undefined;
      }
      return done;
    }
    query(text, params, callback) {
      if (typeof params === 'function') {
        callback = params;
        params = [];
      }
      if (text && typeof text === 'object') {
        params = text.values || params;
        text = text.text;
      }
      var run = effect('sql', {dsn: this.dsn, text: String(text), params: plain(params || [])});
      return settle(run, callback);
    }
    end(callback) {
      return settle(Promise.resolve(), callback);
    }
    release() {}
  }

  class PgPool extends PgClient {
    connect(callback) {
      var client = this;
      var connected = Promise.resolve(client);
      if (typeof callback === 'function') {
        connected.then(function () { callback(null, client, function () {}); });
        return undefined;
      }
      return connected;
    }
  }

  var pg = {
    Client: PgClient,
    Pool: PgPool,
    // The old `pg.connect(conString, function (err, client, done) {...})` of Auth0's templates.
    connect: function (config, callback) {
      return new PgPool(config).connect(callback);
    },
  };

  // `bcrypt`: the host's bcrypt library does the work, so only the asynchronous forms exist.
  function syncRefused(name, instead) {
    return function () {
      throw new Error('bcrypt.' + name + ' is not available in this sandbox: use bcrypt.' +
        instead + ' (a callback or a promise)');
    };
  }

  var bcrypt = {
    compare: function (password, hash, callback) {
      return settle(effect('bcrypt', {op: 'compare', password: String(password),
        hash: String(hash)}), callback);
    },
    hash: function (password, rounds, callback) {
      return settle(effect('bcrypt', {op: 'hash', password: String(password),
        rounds: typeof rounds === 'number' ? rounds : 10}), callback);
    },
    compareSync: syncRefused('compareSync', 'compare'),
    hashSync: syncRefused('hashSync', 'hash'),
  };

  var builtins = {
    pg: pg,
    bcrypt: bcrypt,
    bcryptjs: bcrypt,
    request: request,
    axios: axios,
    'node-fetch': fetch,
    uuid: {v4: uuidv4},
  };

  function require(name) {
    var bare = String(name).replace(/^(@?[^@]+)@.*$/, '$1'); // 'lodash@4.17.21' -> 'lodash'
    if (Object.prototype.hasOwnProperty.call(builtins, bare)) return builtins[bare];
    if (loaded.has(bare)) return loaded.get(bare);
    var factory = modules.get(bare);
    if (factory === undefined) throw new Error('module not available: ' + name);
    var module = {exports: {}};
    factory.call(module.exports, module, module.exports);
    loaded.set(bare, module.exports);
    return module.exports;
  }

  var logs = [];
  var console = {
    log: function () {
      if (logs.length < 100) {
        logs.push(Array.prototype.map.call(arguments, String).join(' ').slice(0, 1000));
      }
    },
  };
  console.info = console.warn = console.error = console.debug = console.log;

  // --- Rules ---------------------------------------------------------------------------

  function runRule(rule, user, context) {
    return new Promise(function (resolve, reject) {
      var called = false;
      function callback(error, nextUser, nextContext) {
        if (called) return;
        called = true;
        if (error) reject(error);
        else resolve([nextUser || user, nextContext || context]);
      }
      state.source = {kind: 'rule', id: rule.id, name: rule.name};
      try {
        rule.fn.call(null, user, context, callback);
      } catch (error) {
        callback(error || new Error(String(error)));
      }
    });
  }

  // --- Actions -------------------------------------------------------------------------

  function actionApi(flow) {
    function claim(target) {
      return {
        setCustomClaim: function (name, value) {
          target[String(name)] = plain(value);
          return this;
        },
      };
    }
    function metadata(bucket) {
      return function (key, value) {
        flow.metadata[bucket][String(key)] = value === undefined ? null : plain(value);
        if (flow.writers.indexOf(state.source.id) < 0) flow.writers.push(state.source.id);
        return flow.api.user;
      };
    }
    flow.api = {
      user: {
        setUserMetadata: metadata('user_metadata'),
        setAppMetadata: metadata('app_metadata'),
      },
      idToken: claim(flow.idToken),
      accessToken: claim(flow.accessToken),
      access: {
        deny: function (reason, userMessage) {
          flow.denied = {reason: String(reason), user_message: userMessage === undefined ?
            String(reason) : String(userMessage), source: state.source};
          return flow.api.access;
        },
      },
    };
    return flow.api;
  }

  // --- The run -------------------------------------------------------------------------

  function failure(error) {
    var denied = error instanceof UnauthorizedError ||
      (error && error.name === 'UnauthorizedError');
    var message = error && error.message !== undefined ? String(error.message) : String(error);
    return {kind: denied ? 'denied' : 'error', message: message, source: state.source};
  }

  async function pipeline(input) {
    var user = input.user;
    var context = input.context;
    for (var rule of rules) {
      var next = await runRule(rule, user, context);
      user = next[0];
      context = next[1];
    }
    var flow = {
      metadata: {user_metadata: {}, app_metadata: {}},
      writers: [],
      idToken: {},
      accessToken: {},
      denied: null,
    };
    var api = actionApi(flow);
    var failed = null;
    for (var action of actions) {
      state.source = {kind: 'action', id: action.id, name: action.name};
      // Each Action sees the event as the flow got it: its own changes stay its own.
      var event = parse(input.event);
      event.secrets = action.secrets;
      try {
        var handler = action.exports[input.trigger];
        if (typeof handler === 'function') await handler(event, api);
      } catch (error) {
        failed = failure(error);
        break;
      }
      if (flow.denied) break;
    }
    return {
      context: {idToken: plain(context && context.idToken) || {},
        accessToken: plain(context && context.accessToken) || {}},
      actions: {metadata: flow.metadata, writers: flow.writers, idToken: flow.idToken,
        accessToken: flow.accessToken},
      outcome: failed || (flow.denied ? {kind: 'denied', message: flow.denied.user_message,
        reason: flow.denied.reason, source: flow.denied.source} : {kind: 'ok'}),
    };
  }

  // --- Custom-database scripts ----------------------------------------------------------

  var scripts = new Map(); // login, get_user, create, verify, change_password, delete

  function scriptFailure(error) {
    var name = error && error.name;
    var message = error && error.message !== undefined ? String(error.message) : String(error);
    if (name === 'WrongUsernameOrPasswordError') return {kind: 'wrong', message: message};
    if (name === 'ValidationError') {
      return {kind: 'validation', code: String(error.code), message: message};
    }
    return {kind: 'error', message: message, source: state.source};
  }

  async function databaseScript(input) {
    var fn = scripts.get(input.script);
    state.source = {kind: 'script', id: input.script, name: input.script};
    try {
      var value = await new Promise(function (resolve, reject) {
        var called = false;
        function callback(error, result) {
          if (called) return;
          called = true;
          if (error) reject(error);
          else resolve(result);
        }
        var returned = fn.apply(null, input.args.concat([callback]));
        // An async script that throws rejects its promise instead.
        if (returned && typeof returned.then === 'function') returned.then(null, callback);
      });
      return {outcome: {kind: 'ok'}, value: plain(value)};
    } catch (error) {
      return {outcome: scriptFailure(error)};
    }
  }

  var ml = {
    module: function (name, factory) {
      modules.set(name, factory);
    },
    rule: function (id, name, compile) {
      var fn;
      try {
        fn = compile();
        if (typeof fn !== 'function') throw new TypeError('the script is not a function');
      } catch (error) {
        var message = String(error && error.message || error);
        fn = function () { throw new SyntaxError('rule "' + name + '" does not compile: ' + message); };
      }
      rules.push({id: id, name: name, fn: fn});
    },
    script: function (name, compile) {
      var fn;
      try {
        fn = compile();
        if (typeof fn !== 'function') throw new TypeError('the script is not a function');
      } catch (error) {
        var message = String(error && error.message || error);
        fn = function () { throw new SyntaxError('script "' + name + '" does not compile: ' + message); };
      }
      scripts.set(name, fn);
    },
    action: function (id, name, secrets, load) {
      var exports;
      try {
        var module = {exports: {}};
        load(module, module.exports, require);
        exports = module.exports;
      } catch (error) {
        var message = String(error && error.message || error);
        var broken = function () {
          throw new SyntaxError('action "' + name + '" does not load: ' + message);
        };
        exports = {onExecutePostLogin: broken, onExecutePreUserRegistration: broken};
      }
      actions.push({id: id, name: name, secrets: secrets, exports: exports});
    },
    start: function (input, bytes) {
      state = {source: {kind: 'pipeline', id: '', name: ''}, result: null};
      outbox = [];
      waiting = new Map();
      logs = [];
      randomBytes = bytes;
      var run = state;
      (input.script ? databaseScript(input) : pipeline(input)).then(function (result) {
        run.result = result;
      }, function (error) {
        run.result = {outcome: failure(error)};
      });
    },
    take: function () {
      var taken = {done: state.result !== null, result: state.result, outbox: outbox,
        source: state.source, logs: logs};
      outbox = [];
      return stringify(taken);
    },
    deliver: function (answers) {
      answers.forEach(function (answer) {
        var settle = waiting.get(answer.id);
        if (settle === undefined) return;
        waiting.delete(answer.id);
        if (answer.ok) settle.resolve(answer.value);
        else settle.reject(new Error(answer.error));
      });
    },
  };

  Object.defineProperty(root, '__ml', {value: Object.freeze(ml)});
  root.UnauthorizedError = UnauthorizedError;
  root.WrongUsernameOrPasswordError = WrongUsernameOrPasswordError;
  root.ValidationError = ValidationError;
  root.auth0 = auth0;
  root.global = {};
  root.require = require;
  root.console = console;
  root.fetch = fetch;
})(globalThis);
