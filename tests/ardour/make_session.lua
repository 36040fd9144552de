-- make_session.lua -- headless Ardour 7.3 session builder (run with ardour7-lua)
--
-- ardour7-lua make_session.lua dir=/abs/session/dir wav=/abs/input.wav \
--     [name=<snapshot name, default: basename(dir)>] [rate=44100] [period=256] \
--     [plugin="Prism Split"] [ptype=VST3|Lua|LV2|LADSPA] [preset=""] \
--     ["param:Drums Mute=1" ...] [strict_io=0|1] [fades=0|1] [external=0|1] [pos=0]
--     [settle=0.3  (seconds the engine runs after setting parameters, before saving)]
--
-- 1. creates a new session with the Dummy backend (rate/period as given),
--    one stereo audio track "Audio 1";
-- 2. saves + closes it, copies the WAV into interchange/<x>/audiofiles/ (or
--    references it by absolute path with external=1), injects Source/Region/
--    Playlist/session-range XML into <name>.ardour, and re-opens the session
--    (libardour's Lua API has no audio import outside the GUI's Editor);
-- 3. inserts the plugin (by name) pre-fader on the track, sets parameters by
--    their label, prints the values read back, saves.
-- Every step prints "STEP <name> <seconds>" (wall clock) for timing.

local A = {}
for _, a in ipairs(arg) do
  local k, v = a:match("^([^=]+)=(.*)$")
  assert(k, "bad argument (want key=value): " .. a)
  if k:sub(1, 6) == "param:" then
    A.params = A.params or {}
    table.insert(A.params, { k:sub(7), tonumber(v) })
  else
    A[k] = v
  end
end

local dir = assert(A.dir, "dir= is required")
local wav = assert(A.wav, "wav= is required")
local name = A.name or dir:match("([^/]+)/*$")
local rate = tonumber(A.rate or 44100)
local period = tonumber(A.period or 256)
local fades = (A.fades or "0") == "1"
local external = (A.external or "0") == "1"
local pos_samples = tonumber(A.pos or 0)

local function now()
  -- os.clock() is CPU time; use a shell-free wall clock via LuaAPI if available
  if ARDOUR.LuaAPI.monotonic_time then return ARDOUR.LuaAPI.monotonic_time() / 1e6 end
  return os.time()
end
local t_start = now()
local t_prev = t_start
local function step(what)
  local t = now()
  print(string.format("STEP %-28s %7.3f s (total %7.3f s)", what, t - t_prev, t - t_start))
  t_prev = t
end

local function die(msg)
  print("FATAL: " .. msg)
  if Session then close_session() end
  os.exit(1)
end

---------------------------------------------------------------------------
-- WAV header (RIFF/WAVE, fmt + data chunk) -> channels, frames, rate
local function wav_info(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local b = f:read("a")
  f:close()
  assert(b:sub(1, 4) == "RIFF" and b:sub(9, 12) == "WAVE", path .. " is not RIFF/WAVE")
  local p, nch, sr, align, nbytes = 13, nil, nil, nil, nil
  while p + 8 <= #b do
    local id, size = b:sub(p, p + 3), string.unpack("<I4", b, p + 4)
    if id == "fmt " then
      local _, c, r, _, al = string.unpack("<I2I2I4I4I2", b, p + 8)
      nch, sr, align = c, r, al
    elseif id == "data" then
      nbytes = math.min(size, #b - (p + 8) + 1)
    end
    p = p + 8 + size + (size % 2)
  end
  assert(nch and nbytes, "no fmt/data chunk in " .. path)
  return nch, nbytes // align, sr, b
end

---------------------------------------------------------------------------
-- 1. create the session
AudioEngine:set_backend("None (Dummy)", "", "")
AudioEngine:set_buffer_size(period)      -- must be before create_session (which starts the engine)
local s = create_session(dir, name, rate)
if not s then die("create_session failed (directory must not exist yet)") end
step("create_session")
print("session", s:path(), "name", s:name(), "rate", s:nominal_sample_rate(), "block", s:get_block_size())

local track_name, playlist_id
do
  -- input_auto_connect=false: nothing from the Dummy capture ports
  local tl = s:new_audio_track(2, 2, nil, 1, "Audio", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, false, false)
  assert(tl:size() == 1, "new_audio_track failed")
  local t = tl:front()
  track_name = t:name()
  playlist_id = t:playlist():to_stateful():id():to_s()
  -- PITFALL: output auto-connection (track -> Master) is done asynchronously by the
  -- session's auto-connect thread; saving right after new_audio_track() can store a
  -- track that is connected to nothing (=> silent export). Connect explicitly:
  local mi = s:master_out():input()
  for c = 0, 1 do
    local op = t:output():audio(c)
    local ip = mi:audio(c):name()
    if not op:connected_to(ip) then op:connect(ip) end
    assert(op:connected_to(ip), "cannot connect " .. op:name() .. " -> " .. ip)
  end
end
assert(s:save_state("", false, false, false, false, false) == 0, "save_state failed")
-- PITFALL: drop every Lua reference to objects of this session before closing it,
-- otherwise a later garbage collection frees them after the Session is gone and
-- luasession hangs in the next close_session().
s = nil
collectgarbage()
close_session()
step("add track, save, close")

---------------------------------------------------------------------------
-- 2. put the WAV in the session and inject XML
local nch, frames, wrate, bytes = wav_info(wav)
if wrate ~= rate then print(string.format("WARNING: WAV rate %d != session rate %d (no SRC is done)", wrate, rate)) end

local srcname
if external then
  srcname = wav                                             -- absolute path = external/embedded source
else
  local p = io.popen('ls -d "' .. dir .. '"/interchange/*/audiofiles 2>/dev/null')
  local afdir = p:read("l")
  p:close()
  assert(afdir, "no interchange/*/audiofiles folder")
  srcname = wav:match("([^/]+)$")
  local out = assert(io.open(afdir .. "/" .. srcname, "wb"))
  out:write(bytes)
  out:close()
end
bytes = nil

local SC = 282240000                                         -- Temporal superclock ticks / second
assert((SC % rate) == 0, "rate must divide 282240000")
local function a(samples) return "a" .. math.tointeger(samples * (SC // rate)) end

local ardour_file = dir .. "/" .. name .. ".ardour"
local f = assert(io.open(ardour_file, "rb"))
local xml = f:read("a")
f:close()

local idc = tonumber(xml:match('id%-counter="(%d+)"'))
local nid = idc + 1000                                       -- our ids, above everything in the file
local function newid() nid = nid + 1; return tostring(nid) end

local ts = tostring(os.time())
local src_ids, sources = {}, {}
for c = 0, nch - 1 do
  local id = newid()
  src_ids[c] = id
  table.insert(sources, string.format(
    '    <Source name="%s" type="audio" flags="" id="%s" timestamp="%s" natural-position="a0" channel="%d" origin="%s" gain="1"/>',
    srcname, id, ts, c, wav))
end
local function srcattrs()
  local t = {}
  for c = 0, nch - 1 do
    table.insert(t, string.format('source-%d="%s" master-source-%d="%s"', c, src_ids[c], c, src_ids[c]))
  end
  return table.concat(t, " ") .. string.format(' channels="%d"', nch)
end
local rname = srcname:match("([^/]+)$"):gsub("%.[^.]*$", "")
local function region(id, rn, whole, pos)
  return string.format(
    '<Region name="%s" muted="0" opaque="1" locked="0" video-locked="0" automatic="%d" whole-file="%d" import="1" external="0" ' ..
    'sync-marked="0" left-of-split="0" right-of-split="0" hidden="0" position-locked="0" valid-transients="0" start="a0" ' ..
    'length="%s@%s" sync-position="a0" ancestral-start="a0" ancestral-length="a0@a0" stretch="1" shift="1" layering-index="0" ' ..
    'tags="" contents="0" envelope-active="0" default-fade-in="0" default-fade-out="0" fade-in-active="%d" fade-out-active="%d" ' ..
    'scale-amplitude="1" id="%s" type="audio" first-edit="nothing" %s/>',
    rn, whole, whole, a(frames), a(pos), fades and 1 or 0, fades and 1 or 0, id, srcattrs())
end
local whole = region(newid(), rname, 1, 0)
local inpl = region(newid(), rname .. ".1", 0, pos_samples)
local loc = string.format('<Location id="%s" name="session" start="%s" end="%s" flags="IsSessionRange" locked="0" timestamp="%s" cue="0"/>',
  newid(), a(pos_samples), a(pos_samples + frames), ts)

local n
xml, n = xml:gsub("<Sources/>", function() return "<Sources>\n" .. table.concat(sources, "\n") .. "\n  </Sources>" end, 1)
assert(n == 1, "no empty <Sources/> in session file")
xml, n = xml:gsub("<Regions/>", function() return "<Regions>\n    " .. whole .. "\n  </Regions>" end, 1)
assert(n == 1, "no empty <Regions/> in session file")
xml, n = xml:gsub("<Locations/>", function() return "<Locations>\n    " .. loc .. "\n  </Locations>" end, 1)
assert(n == 1, "no empty <Locations/> in session file")
xml, n = xml:gsub('(<Playlist id="' .. playlist_id .. '"[^>]-)/>', function(h) return h .. ">\n      " .. inpl .. "\n    </Playlist>" end, 1)
assert(n == 1, "track playlist " .. playlist_id .. " not found")
xml = xml:gsub('id%-counter="%d+"', 'id-counter="' .. (nid + 1) .. '"', 1)
if external then
  -- Ardour re-saves a source's name as its basename, so an absolute name alone does
  -- not survive the next save/reload: add the file's folder to the audio search path.
  local folder = wav:match("^(.*)/[^/]+$")
  xml, n = xml:gsub('<Option name="audio%-search%-path" value="([^"]*)"/>', function(v)
    return '<Option name="audio-search-path" value="' .. (v == "" and folder or (v .. ":" .. folder)) .. '"/>'
  end, 1)
  assert(n == 1, "no audio-search-path option in session file")
end

f = assert(io.open(ardour_file, "wb"))
f:write(xml)
f:close()
step("inject region XML")

---------------------------------------------------------------------------
-- 3. reopen, insert plugin, set parameters, save
AudioEngine:set_buffer_size(period)
s = load_session(dir, name)
if not s then die("load_session failed") end
step("load_session")
print("reloaded: rate", s:nominal_sample_rate(), "block", s:get_block_size())

local track = s:route_by_name(track_name)
assert(not track:isnil(), "track not found after reload")
local pl = track:to_track():playlist()
for r in pl:region_list():iter() do
  print(string.format("region %q pos=%d len=%d start=%d", r:name(), r:position():samples(), r:length():samples(), r:start():samples()))
end
local sr = s:locations():session_range_location()
print("session range", sr:start():samples(), sr:_end():samples())
for c = 0, 1 do
  local op = track:output():audio(c)
  local ip = s:master_out():input():audio(c):name()
  print("connection", op:name(), "->", ip, tostring(op:connected_to(ip)))
  assert(op:connected_to(ip), "track output not connected to master after reload")
end

if A.strict_io then
  track:set_strict_io(A.strict_io == "1")
end

local function find_param(plugin, label)
  for j = 0, plugin:parameter_count() - 1 do
    local cid = plugin:nth_parameter(j, false)
    if plugin:parameter_is_input(cid) and plugin:parameter_label(cid) == label then return j, cid end
  end
  return nil
end

if A.plugin then
  local ptype = ARDOUR.PluginType[A.ptype or "VST3"]
  assert(ptype, "unknown plugin type " .. tostring(A.ptype))
  local proc = ARDOUR.LuaAPI.new_plugin(s, A.plugin, ptype, A.preset or "")
  if proc:isnil() then die("plugin not found: " .. A.plugin .. " (VST3: bundle in ~/.vst3 AND scanned with ardour-vst3-scanner?)") end
  -- index 0 = before the first user-visible processor (i.e. pre-fader)
  if track:add_processor_by_index(proc, 0, nil, true) ~= 0 then die("add_processor_by_index failed") end
  local pi = proc:to_insert()
  local plugin = pi:plugin(0)
  print("inserted", plugin:name(), "instances", pi:get_count(), "latency", pi:signal_latency(),
        "in", pi:natural_input_streams():n_audio(), "out", pi:natural_output_streams():n_audio(), pi:natural_output_streams():n_midi())
  for _, pv in ipairs(A.params or {}) do
    local j, cid = find_param(plugin, pv[1])
    if not j then die("no input parameter labelled '" .. pv[1] .. "'") end
    if not ARDOUR.LuaAPI.set_plugin_insert_param(pi, j, pv[2]) then
      die("set_plugin_insert_param failed for " .. pv[1] .. " (out of range?)")
    end
    print(string.format("PARAM %q = %g (readback %g)", pv[1], pv[2], ARDOUR.LuaAPI.get_plugin_insert_param(pi, j, false)))
  end
  if tonumber(A.settle or 0.3) > 0 then
    -- PITFALL (VST3): the plugin's state chunk is only updated once the plugin has
    -- processed the parameter change; saving right away stores a stale chunk that
    -- is restored *after* the <Port> values on reload. Let the engine run a bit.
    ARDOUR.LuaAPI.usleep(math.floor(tonumber(A.settle or 0.3) * 1e6))
  end
  step("insert plugin + params")
end

local i = 0
while true do
  local p = track:nth_processor(i)
  if p:isnil() then break end
  print(string.format("processor[%d] %s active=%s", i, p:display_name(), tostring(p:active())))
  i = i + 1
end
print("track strict-io", tostring(track:strict_io()), "worst latency preroll", s:worst_latency_preroll())

assert(s:save_state("", false, false, false, false, false) == 0, "save_state failed")
step("save_state")
track, pl, sr = nil, nil, nil
collectgarbage()
close_session()
step("close_session")
print("OK")
