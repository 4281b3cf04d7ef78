// English and Chinese strings of the console; the choice is kept in localStorage.
"use strict";
const I18N = (function () {
  const S = {
    en: {
      console_title: "Gateway console", password: "Password", log_in: "Log in", log_out: "Log out",
      login_wrong: "Wrong password.", login_throttled: "Too many wrong passwords. Wait a minute and try again.",
      login_no_password: "No console password is set. Run: edge-agent console passwd",
      nav_gateway: "Gateway", nav_elevators: "Elevators", nav_cameras: "Cameras", nav_zones: "Zone editor",
      nav_residents: "Residents' devices", live_on: "live", live_off: "offline",
      uplink: "Uplink", broker: "Broker", state: "State", reason: "Reason", since: "Since",
      backlog: "Backlog", pending: "Unsent events", oldest: "Oldest unsent", dead: "Dead letters",
      by_priority: "Bytes by priority", host: "Gateway host", clock: "Clock synchronised",
      disk: "Disk free", temperature: "CPU temperature", throttling: "Throttling", memory: "Memory used",
      config: "Config", drivers: "Drivers", name: "Name", kind: "Kind", restarts: "Restarts",
      last_error: "Last error", last_seen: "Last seen", events: "Last 50 events", time: "Time",
      type: "Type", subject: "Subject", priority: "Priority", all: "all", filter: "Filter",
      yes: "yes", no: "no", unknown: "unknown", none: "none", ago: "ago",
      up: "up", down: "down", connecting: "connecting", running: "running", failing: "failing", starting: "starting",
      alarm: "alarm", event: "event", telemetry: "telemetry", now: "now", occurred: "since boot",
      car: "Car", floor: "Floor", direction: "Direction", door: "Door", moving: "Running",
      service_mode: "Service mode", faults: "Active faults", online: "online", offline: "offline",
      no_cars: "No elevator has reported yet.", no_cameras: "No camera is running.",
      zones: "Zones", detections: "Detections", candidates: "Tracked candidates", dwell: "dwell",
      violations: "Open violations", evidence: "Evidence", edit_zones: "Edit zones",
      frame_age: "Frame age", camera: "Camera", no_frame: "No frame yet.",
      zone_help: "Click on the frame to add a point to the selected zone; drag a point to move it; double-click a point to delete it. A bike is in a zone when the bottom centre of its box (the dot) is inside.",
      new_zone: "New zone", delete_zone: "Delete zone", save: "Save", grace: "Grace time (s)",
      points: "Points", saving: "Saving: validating, applying, checking the camera…",
      saved: "Saved and applied. Config", rolled_back: "Not healthy: rolled back to the previous config.",
      invalid: "Not saved: fix the problems shown.", refused: "Not saved.",
      battery: "Battery", worn: "Worn", device: "Device", no_devices: "No resident device has reported yet.",
      elevator_car: "elevator car", corridor: "corridor", fire_lane: "fire lane", entrance: "entrance",
      exit: "exit", lobby: "lobby", stairwell: "stairwell", other: "other",
      up_dir: "up", down_dir: "down", none_dir: "—", open: "open", closed: "closed",
      err_points: "A zone needs at least 3 points.", err_outside: "A point is outside the frame.",
      err_cross: "Edges cross: list the points in order around the outline.",
      err_area: "The zone has (almost) no area.", err_dup: "This name is already used by another zone.",
      err_id: "Name: lower-case letters, digits, - and _.", err_kind: "Choose a kind.",
      err_grace: "Grace time is seconds, 0 to 86400.",
    },
    zh: {
      console_title: "网关控制台", password: "密码", log_in: "登录", log_out: "退出登录",
      login_wrong: "密码错误。", login_throttled: "密码错误次数过多，请一分钟后再试。",
      login_no_password: "尚未设置控制台密码。请运行：edge-agent console passwd",
      nav_gateway: "网关", nav_elevators: "电梯", nav_cameras: "摄像头", nav_zones: "区域编辑",
      nav_residents: "住户设备", live_on: "实时", live_off: "离线",
      uplink: "上行链路", broker: "消息服务器", state: "状态", reason: "原因", since: "自",
      backlog: "积压", pending: "未发送事件", oldest: "最早未发送", dead: "死信",
      by_priority: "按优先级字节数", host: "网关主机", clock: "时钟已同步",
      disk: "磁盘剩余", temperature: "CPU 温度", throttling: "降频", memory: "内存占用",
      config: "配置", drivers: "驱动", name: "名称", kind: "类型", restarts: "重启次数",
      last_error: "最近错误", last_seen: "最近上报", events: "最近 50 条事件", time: "时间",
      type: "类型", subject: "对象", priority: "优先级", all: "全部", filter: "筛选",
      yes: "是", no: "否", unknown: "未知", none: "无", ago: "前",
      up: "已连接", down: "已断开", connecting: "连接中", running: "运行中", failing: "故障", starting: "启动中",
      alarm: "告警", event: "事件", telemetry: "遥测", now: "当前", occurred: "启动以来",
      car: "轿厢", floor: "楼层", direction: "方向", door: "门", moving: "运行",
      service_mode: "服务模式", faults: "当前故障", online: "在线", offline: "离线",
      no_cars: "尚无电梯上报。", no_cameras: "没有正在运行的摄像头。",
      zones: "区域", detections: "检测结果", candidates: "跟踪目标", dwell: "停留",
      violations: "未结违规", evidence: "证据", edit_zones: "编辑区域",
      frame_age: "画面时延", camera: "摄像头", no_frame: "尚无画面。",
      zone_help: "在画面上点击，为所选区域添加顶点；拖动顶点可移动；双击顶点可删除。车辆检测框底边中点（圆点）在区域内即视为在区域内。",
      new_zone: "新建区域", delete_zone: "删除区域", save: "保存", grace: "宽限时间（秒）",
      points: "顶点", saving: "正在保存：校验、应用、检查摄像头…",
      saved: "已保存并生效。配置", rolled_back: "运行不正常，已回滚到之前的配置。",
      invalid: "未保存：请修正标出的问题。", refused: "未保存。",
      battery: "电量", worn: "佩戴", device: "设备", no_devices: "尚无住户设备上报。",
      elevator_car: "电梯轿厢", corridor: "走廊", fire_lane: "消防通道", entrance: "入口",
      exit: "出口", lobby: "大堂", stairwell: "楼梯间", other: "其他",
      up_dir: "上行", down_dir: "下行", none_dir: "—", open: "开", closed: "关",
      err_points: "区域至少需要 3 个顶点。", err_outside: "有顶点在画面之外。",
      err_cross: "边相交：请按轮廓顺序排列顶点。",
      err_area: "区域面积（几乎）为零。", err_dup: "该名称已被其他区域使用。",
      err_id: "名称：小写字母、数字、- 和 _。", err_kind: "请选择类型。",
      err_grace: "宽限时间为 0 到 86400 秒。",
    },
  };
  const PATTERNS = [
    [/at least 3 points/, "err_points"], [/outside 0\.\.1/, "err_outside"], [/cross/, "err_cross"],
    [/no area/, "err_area"], [/already used/, "err_dup"], [/^name:/, "err_id"],
    [/^kind must/, "err_kind"], [/^grace time/, "err_grace"],
  ];
  let lang = localStorage.getItem("lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
  function t(key) { return (S[lang] && S[lang][key]) || S.en[key] || key; }
  function message(text) {
    for (const [re, key] of PATTERNS) { if (re.test(text)) return t(key); }
    return text;
  }
  function apply() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    const sw = document.getElementById("lang");
    if (sw) sw.textContent = lang === "zh" ? "English" : "中文";
  }
  function toggle() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("lang", lang);
    apply();
    document.dispatchEvent(new Event("langchange"));
  }
  return { t, message, apply, toggle, get lang() { return lang; } };
})();
