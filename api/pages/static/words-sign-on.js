// Words of campus sign-on (统一身份认证) in the login box, and the supervisor role.
import { addWords } from "./common.js";

addWords({
  zh: {
    "signon.button": "统一身份认证登录",
    "signon.or": "或使用学校统一身份认证：",
    "signon.localAdmins": "本地密码仅限管理员应急使用；其他人请使用统一身份认证：",
    "signon.localOff": "本地密码登录已关闭（仅限管理员），请使用统一身份认证登录",
    "signon.error": "统一身份认证登录失败，请重试",
    "signon.error.sign_on_state": "登录已过期或不是在此浏览器发起的，请重新登录",
    "signon.error.sign_on_provider_error": "统一身份认证服务暂时不可用或拒绝了登录，请重试",
    "signon.error.sign_on_token_invalid": "统一身份认证返回的凭证无效，请重试或联系管理员",
    "signon.error.sign_on_no_role": "您的账号没有本系统的使用权限，请联系管理员",
    "signon.error.sign_on_claims": "统一身份认证未提供所需的身份信息，请联系管理员",
    "signon.error.sign_on_email_unverified": "您的邮箱尚未验证，无法登录",
    "signon.error.sign_on_disabled": "您的账号已被管理员停用",
    "role.supervisor": "值班主管",
  },
  en: {
    "signon.button": "Campus sign-on",
    "signon.or": "Or sign on with your campus account:",
    "signon.localAdmins": "Local passwords are for admins (break-glass) only; everyone else:",
    "signon.localOff": "Local passwords are switched off (admins only): use campus sign-on",
    "signon.error": "Campus sign-on failed; please try again",
    "signon.error.sign_on_state": "The sign-on expired or was not started in this browser; please sign on again",
    "signon.error.sign_on_provider_error": "The campus sign-on service is unavailable or refused the sign-on; please try again",
    "signon.error.sign_on_token_invalid": "The campus sign-on sent an invalid credential; try again or ask an admin",
    "signon.error.sign_on_no_role": "Your account has no access to the service hall; ask an admin",
    "signon.error.sign_on_claims": "The campus sign-on did not send the details the hall needs; ask an admin",
    "signon.error.sign_on_email_unverified": "Your e-mail address is not verified, so you cannot sign on",
    "signon.error.sign_on_disabled": "An admin has disabled your account",
    "role.supervisor": "supervisor",
  },
});
