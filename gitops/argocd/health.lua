-- Argo CD health check for every catalog.nexus.dev kind (Component, System, Domain, Repository,
-- Pipeline, AzureResource, Environment, Team, User, API, Package, Incident, WorkItem, Runbook).
--
-- Nexus follows the kstatus conventions: status.observedGeneration, and metav1.Conditions with
-- a summary `Ready` condition plus `Reconciling` / `Stalled` where meaningful.
--
--   not yet observed (no conditions, or observedGeneration behind metadata.generation,
--   or a Ready condition computed for an older generation)        -> Progressing
--   Stalled=True                                                  -> Degraded
--   Ready=True                                                    -> Healthy
--   Ready=False, reason DanglingReference (the target may appear) -> Progressing
--   Ready=False while Reconciling=True                            -> Progressing
--   Ready=False, any other reason (InvalidSpec, …)                -> Degraded
--   Ready=Unknown, or no Ready condition yet                      -> Progressing
--
-- Runs in Argo CD's Lua sandbox (gopher-lua, Lua 5.1) with only the base and table libraries:
-- argocd-cm scripts get no string library unless useOpenLibs is set, so none is used here.
-- Keep in sync with argocd-cm.yaml (the Go test checks the two copies are identical).

local function findCondition(conditions, conditionType)
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function isTrue(condition)
  return condition ~= nil and condition.status == "True"
end

-- The condition's message, or nil when it has none.
local function messageOf(condition)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return nil
end

-- The condition's message, else its reason, else the fallback.
local function describe(condition, fallback)
  local message = messageOf(condition)
  if message ~= nil then
    return message
  end
  if condition ~= nil and condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local waiting = "Waiting for the controller to observe the latest generation"
if generation ~= nil then
  waiting = "Waiting for the controller to observe generation " .. generation
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = waiting
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = waiting
  return hs
end

local conditions = status.conditions
local ready = findCondition(conditions, "Ready")
if ready ~= nil and generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = waiting
  return hs
end

local stalled = findCondition(conditions, "Stalled")
if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local reconciling = findCondition(conditions, "Reconciling")
if ready == nil then
  hs.status = "Progressing"
  if isTrue(reconciling) then
    hs.message = describe(reconciling, "Reconciling")
  else
    hs.message = "Waiting for the Ready condition"
  end
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if ready.status == "False" then
  if ready.reason == "DanglingReference" then
    hs.status = "Progressing"
    hs.message = describe(ready, "DanglingReference")
    return hs
  end
  if isTrue(reconciling) then
    hs.status = "Progressing"
    hs.message = messageOf(ready) or describe(reconciling, describe(ready, "Reconciling"))
    return hs
  end
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

-- Ready=Unknown (or an unexpected value): the controller has not decided yet.
hs.status = "Progressing"
if isTrue(reconciling) then
  hs.message = messageOf(ready) or describe(reconciling, describe(ready, "Reconciling"))
else
  hs.message = describe(ready, "Waiting for the Ready condition")
end
return hs
