"""The console's labels: Chinese by default, English with ``?lang=en`` (kept in the session).

``LABELS`` maps a key to its (Chinese, English) text; ``translator(lang)``
gives the function templates call as ``t("key")``. A key without a label is
shown as itself, so a missing label is visible rather than an error.
"""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

LABELS: dict[str, tuple[str, str]] = {
    "app": ("casetrail 审阅台", "casetrail reviewer console"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "token": ("API 令牌", "API token"),
    "token_help": ("输入 `casetrail token issue` 发给你的令牌。", "Paste the token `casetrail token issue` gave you."),
    "bad_token": ("令牌无效、已过期或已撤销。", "The token is unknown, expired or revoked."),
    "signed_in_as": ("当前用户", "Signed in as"),
    "cases": ("案件", "Cases"),
    "audit": ("审计", "Audit"),
    "reports": ("报表", "Reports"),
    "inbox": ("升级收件箱", "Escalation inbox"),
    "search": ("查询", "Search"),
    "q": ("编号 / 客户姓名 / 电话", "Number / customer name / phone"),
    "staff": ("经办人", "Staff"),
    "type": ("类型", "Type"),
    "status": ("状态", "Status"),
    "department": ("部门", "Department"),
    "opened_from": ("受理日期从", "Opened from"),
    "opened_to": ("至", "to"),
    "escalated_to": ("升级给", "Escalated to"),
    "sort": ("排序", "Sort"),
    "any": ("全部", "any"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "number": ("编号", "Number"),
    "title": ("标题", "Title"),
    "customer": ("客户", "Customer"),
    "assignee": ("处理人", "Assignee"),
    "opened_at": ("受理时间", "Opened"),
    "updated_at": ("更新时间", "Updated"),
    "due_at": ("到期", "Due"),
    "version": ("版本", "Version"),
    "found": ("符合条件的案件数", "Cases found"),
    "no_rows": ("没有符合条件的案件。", "No case matches."),
    "more": ("更多", "More"),
    "overdue": ("已超期", "overdue"),
    "paused": ("已暂停", "paused"),
    "running": ("计时中", "running"),
    "met": ("已达成", "met"),
    "breached": ("已违约", "breached"),
    "stopped": ("已停止", "stopped"),
    "clocks": ("时限", "Clocks"),
    "approvals": ("审批", "Approvals"),
    "required": ("需要", "required"),
    "granted": ("已批准", "granted"),
    "links": ("关联案件", "Links"),
    "escalations": ("升级记录", "Escalations"),
    "fields": ("字段", "Fields"),
    "timeline": ("时间线", "Timeline"),
    "time": ("时间", "Time"),
    "actor": ("操作人", "Actor"),
    "roles": ("角色", "Roles"),
    "action": ("动作", "Action"),
    "changes": ("变更", "Changes"),
    "hash": ("哈希", "Hash"),
    "imported": ("导入", "imported"),
    "system": ("系统/策略", "system/policy"),
    "replay": ("回放", "Replay"),
    "replay_help": ("拖动滑块或选择时间,查看案件当时的状态。",
                    "Move the slider or pick a time to see the case as it stood."),
    "as_of": ("截至时间", "As of"),
    "show": ("显示", "Show"),
    "state_at": ("当时状态", "State at"),
    "not_yet": ("该时间点案件尚未受理。", "The case did not exist yet at that time."),
    "diff": ("版本对比", "Compare versions"),
    "from_version": ("从版本", "From version"),
    "to_version": ("到版本", "To version"),
    "compare": ("对比", "Compare"),
    "path": ("字段路径", "Path"),
    "old": ("原值", "Old"),
    "new": ("新值", "New"),
    "no_diff": ("两个版本之间没有差异。", "No difference between these versions."),
    "verification": ("完整性校验", "Verification"),
    "verified": ("链完整", "chain intact"),
    "not_verified": ("校验失败", "verification failed"),
    "covered_by": ("已被签名检查点覆盖", "covered by signed checkpoint"),
    "not_covered": ("尚无签名检查点覆盖", "not yet covered by a signed checkpoint"),
    "recheck": ("重新校验", "Re-check"),
    "checked_at": ("校验时间", "checked at"),
    "evidence": ("证据导出", "Evidence export"),
    "bundle_json": ("证据包 (JSON)", "Evidence bundle (JSON)"),
    "bundle_html": ("可打印报告 (HTML/PDF)", "Printable report (HTML/PDF)"),
    "audit_log": ("全局审计日志", "Global audit log"),
    "access_ledger": ("访问台账", "Access ledger"),
    "case_id": ("案件", "Case"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "summary": ("摘要", "Summary"),
    "subject": ("对象", "Subject"),
    "what": ("内容", "What"),
    "detail": ("详情", "Detail"),
    "staff_performance": ("员工绩效", "Staff performance"),
    "department_report": ("部门月报", "Department report"),
    "month": ("月份", "Month"),
    "by": ("粒度", "Per"),
    "sla_compliance": ("时限达成率 %", "SLA compliance %"),
    "return_visit_coverage": ("回访覆盖率 %", "Return-visit coverage %"),
    "satisfaction": ("满意率 %", "Satisfaction %"),
    "reopened": ("重开数", "Reopened"),
    "period": ("期间", "Period"),
    "show_report": ("查看", "Show"),
    "forbidden": ("你的角色无权查看此页。", "Your roles may not see this page."),
    "not_found": ("未找到。", "Not found."),
    "read_only": ("只读:审阅台不能修改案件。", "Read-only: the console changes no case."),
    "events": ("事件数", "Events"),
    "handling_rate": ("处理率 %", "Handling rate %"),
    "return_visit_rate": ("回访率 %", "Return-visit rate %"),
    "satisfaction_rate": ("满意率 %", "Satisfaction rate %"),
    "target": ("目标", "Target"),
    "value": ("数值", "Value"),
    "received": ("受理", "Received"),
    "handled": ("已处理", "Handled"),
    "valid": ("有效投诉", "Valid complaints"),
    "language": ("English", "中文"),
}


def normalize(lang: str | None) -> str:
    return lang if lang in LANGS else DEFAULT_LANG


def translator(lang: str) -> Callable[[str], str]:
    index = LANGS.index(normalize(lang))

    def t(key: str) -> str:
        pair = LABELS.get(key)
        return pair[index] if pair else key

    return t
